"""The netns runtime: a containerlab topology as network namespaces on this machine.

One namespace per node (`<lab>-<node>`), one veth pair per link with the endpoint interface names, a
management bridge owned by the lab with the gateway address of `mgmt.ipv4-subnet`, an sshd per node on its
management address, FRR daemons per FRR node. Nothing is routed, NATed or forwarded toward the outside:
the nodes get no default route and every address lives in the lab's namespaces or on its own bridge.

`up` records its whole plan before creating anything (vxauto.lab.state), so `down` cleans a crashed or
killed `up`; a failing `up` rolls itself back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxauto.errors import Problem, VxautoError
from vxauto.lab import netns, wan
from vxauto.lab.configs import NodeStartup, configs_digest, node_startups
from vxauto.lab.inventories import InventoryNode, ansible_inventory, nornir_simple_inventory
from vxauto.lab.kinds import Role, is_native, native_kinds_text
from vxauto.lab.netns import LabError
from vxauto.lab.sshkeys import (
    ensure_keypair,
    known_hosts_text,
    ssh_config_text,
    sshd_config_text,
)
from vxauto.lab.state import LAB_DIR_COPY, LabState, NodeState, lab_lock, recorded_labs
from vxauto.lab.topology import SPECIAL_ENDPOINT_NODES, Node, Topology
from vxauto.model.yamlsource import format_path

MARKER = ".vxauto-lab"
LOGIN_KEY = "id_ed25519"
KNOWN_HOSTS = "known_hosts"
AUTHORIZED_KEYS = "authorized_keys"
SSH_CONFIG = "ssh_config"
NORNIR_INVENTORY = "nornir-simple-inventory.yml"
ANSIBLE_INVENTORY = "ansible-inventory.yml"
FRR_ROUTER_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
DAEMON_TIMEOUT = 20.0
SSH_TIMEOUT = 20.0
MAX_WORKERS = 16

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --- names ---------------------------------------------------------------------------------------------


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def bridge_name(lab: str) -> str:
    """`vx-<lab>` when it fits the 15-byte interface name limit, else a shortened, hashed form."""
    name = f"vx-{lab}"
    return name if netns.valid_ifname(name) else f"vx-{lab[:6]}-{_short_hash(lab, 5)}"


def mgmt_veth_name(lab: str, node: str) -> str:
    return f"vx{_short_hash(f'{lab}/{node}', 10)}"


def link_group(lab: str) -> int:
    """A device group number of the lab's own (28 hashed bits above the groups people number by hand)."""
    return 0x10000000 | int(_short_hash(lab, 7), 16)


# --- checks before anything is created ------------------------------------------------------------------


def check_runnable(topology: Topology) -> None:
    """Everything the netns runtime cannot build is bad input: report it all, create nothing."""
    problems: list[Problem] = []
    source = topology.source

    def add(path: tuple, message: str, value: object) -> None:
        problems.append(Problem(source.file, format_path(path), message, value, source.line_of(path)))

    for node in topology.nodes.values():
        if not is_native(node.kind):
            add((*node.path, "kind"),
                f"kind {node.kind} needs its vendor image: run this topology with Docker and containerlab "
                f"(containerlab deploy -t {topology.file.name}); the netns runtime runs natively: "
                f"{native_kinds_text()}", node.kind)
    for link in topology.links:
        for position, end in enumerate((link.a, link.b)):
            path = ("topology", "links", link.index, "endpoints", position)
            if end.node in SPECIAL_ENDPOINT_NODES:
                add(path, f"{end.node}: endpoints would connect the lab to this machine's own network; the "
                    "netns runtime builds node-to-node links only", str(end))
            elif not netns.valid_ifname(end.interface):
                add(path, "not a Linux interface name (1-15 characters, no '/', ':' or spaces)", str(end))
    VxautoError.collect(problems)


def check_system(topology: Topology) -> None:
    """The machine side: root, iproute2, sshd, FRR. Not the user's input, so a `LabError`."""
    if os.geteuid() != 0:
        raise LabError("the netns runtime needs root (network namespaces, veths, a bridge)")
    needed = [("ip", "iproute2"), ("unshare", "util-linux"), ("sysctl", "procps")]
    missing = [f"{tool} ({package})" for tool, package in needed if shutil.which(tool) is None]
    if not netns.SSHD.exists():
        missing.append(f"{netns.SSHD} (openssh-server)")
    if any(node.role is Role.FRR for node in topology.nodes.values()):
        if not (netns.FRR_BIN / "zebra").exists():
            missing.append(f"{netns.FRR_BIN}/zebra (frr)")
        if shutil.which("vtysh") is None:
            missing.append("vtysh (frr)")
    if missing:
        raise LabError("missing on this machine: " + ", ".join(missing))


def check_mgmt_subnet(topology: Topology, own_bridge: str) -> None:
    """The management subnet must be free on this machine (another lab, a real network)."""
    subnet = topology.mgmt.subnet
    clashes = sorted(
        {f"{network} on {device}" for network, device in netns.root_networks()
         if device != own_bridge and ipaddress.ip_network(network, strict=False).overlaps(subnet)}
    )
    if clashes:
        path = ("mgmt", "ipv4-subnet")
        raise VxautoError([Problem(
            topology.source.file, format_path(path),
            f"overlaps networks already in use on this machine: {', '.join(clashes)}; choose another subnet",
            str(subnet), topology.source.line_of(path),
        )])


# --- the lab object ------------------------------------------------------------------------------------


@dataclass
class NodeStatus:
    name: str
    kind: str
    role: str
    namespace: str
    mgmt_ipv4: str
    state: str  # running | degraded | missing
    processes: dict[str, bool] = field(default_factory=dict)


#: Where a lab node keeps the NAPALM frr driver's rollback points, under its node directory.
NAPALM_STATE_SUBDIR = "vxauto-deploy"


class Lab:
    """A running netns lab: paths of its SSH material, node access, shell-in."""

    def __init__(self, topology: Topology, state: LabState, warnings: list[str] | None = None) -> None:
        self.topology = topology
        self.state = state
        self.warnings = warnings or []

    # paths
    @property
    def name(self) -> str:
        return self.state.name

    @property
    def lab_dir(self) -> Path:
        return Path(self.state.lab_dir)

    @property
    def key_file(self) -> Path:
        return self.lab_dir / LOGIN_KEY

    @property
    def known_hosts(self) -> Path:
        return self.lab_dir / KNOWN_HOSTS

    @property
    def nornir_inventory(self) -> Path:
        return self.lab_dir / NORNIR_INVENTORY

    @property
    def ansible_inventory(self) -> Path:
        return self.lab_dir / ANSIBLE_INVENTORY

    @property
    def ssh_config(self) -> Path:
        return self.lab_dir / SSH_CONFIG

    @property
    def nodes(self) -> dict[str, NodeState]:
        return self.state.nodes

    def node(self, name: str) -> NodeState:
        if name not in self.state.nodes:
            raise VxautoError.single(str(self.topology.file), "topology.nodes", "unknown node", name)
        return self.state.nodes[name]

    def namespace(self, node: str) -> str:
        return self.node(node).namespace

    # access
    def ssh_options(self, node: str) -> dict[str, object]:
        """How to reach a node over SSH; host keys are in `known_hosts` (check them, never skip)."""
        state = self.node(node)
        return {
            "host": state.mgmt_ipv4,
            "port": 22,
            "username": "root",
            "key_file": str(self.key_file),
            "known_hosts": str(self.known_hosts),
            "node": node,
            "namespace": state.namespace,
        }

    def napalm_params(self, node: str) -> dict[str, Any]:
        """How vxauto's NAPALM `frr` driver reaches a node (hostname, username, port, optional_args): key
        login, host key checked against the lab's known_hosts, rollback points in the node's own directory
        (lab nodes share one filesystem), vtysh in the node's FRR pathspace (the namespace name)."""
        ssh = self.ssh_options(node)
        state = self.node(node)
        optional: dict[str, Any] = {"key_file": ssh["key_file"], "known_hosts": ssh["known_hosts"],
                                    "state_dir": str(Path(state.node_dir) / NAPALM_STATE_SUBDIR)}
        if state.role == "frr":
            optional["vtysh_pathspace"] = ssh["namespace"]
        else:
            optional["frr"] = False  # a plain host shares the machine's vtysh binary but runs no FRR
        return {"hostname": state.mgmt_ipv4, "username": ssh["username"], "port": ssh["port"],
                "optional_args": optional}

    def netmiko_params(self, node: str, device_type: str = "linux") -> dict[str, object]:
        """Arguments for `netmiko.ConnectHandler`: key login, host key checked against the lab's known_hosts."""
        options = self.ssh_options(node)
        return {
            "device_type": device_type,
            "host": options["host"],
            "username": options["username"],
            "use_keys": True,
            "key_file": options["key_file"],
            "allow_agent": False,
            "ssh_strict": True,
            "system_host_keys": False,
            "alt_host_keys": True,
            "alt_key_file": options["known_hosts"],
        }

    def node_argv(self, node: str, argv: list[str]) -> list[str]:
        state = self.node(node)
        return netns.node_argv(state.namespace, node, argv, _frr_dirs(state))

    def exec_in(
        self, node: str, command: str | list[str], check: bool = False, timeout: float | None = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a node (a string goes through `sh -c`); returns the completed process."""
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        env = {**os.environ, **self.topology.nodes[node].env} if node in self.topology.nodes else None
        return subprocess.run(
            self.node_argv(node, argv), capture_output=True, text=True, check=check, timeout=timeout, env=env
        )

    def vtysh(self, node: str, command: str, timeout: float = 30) -> str:
        result = self.exec_in(node, ["vtysh", "-c", command], timeout=timeout)
        if result.returncode != 0:
            raise LabError(f"{node}: vtysh -c {command!r} failed: {(result.stderr or result.stdout).strip()}")
        return result.stdout

    def bgp_peers(self, node: str) -> dict[str, str]:
        """`afi/peer -> state` from `show bgp summary json` of one FRR node."""
        state = self.node(node)
        result = subprocess.run(
            ["vtysh", "-N", state.namespace, "-c", "show bgp summary json"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        try:
            summary = json.loads(result.stdout or "{}")
        except ValueError:
            return {}
        peers: dict[str, str] = {}
        for afi, data in summary.items():
            if isinstance(data, dict):
                for peer, info in (data.get("peers") or {}).items():
                    peers[f"{afi}/{peer}"] = str(info.get("state", "?"))
        return peers

    def wait_bgp(self, timeout: float = 60.0) -> dict[str, dict[str, str]]:
        """Wait until every BGP session of every FRR node is Established; raises `LabError` on timeout."""
        routers = [name for name, node in self.nodes.items() if node.role == Role.FRR]
        deadline = time.monotonic() + timeout
        while True:
            with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(routers) or 1)) as pool:
                peers = dict(zip(routers, pool.map(self.bgp_peers, routers), strict=True))
            down = {f"{node} {peer}: {state}" for node, table in peers.items()
                    for peer, state in table.items() if state != "Established"}
            if not down:
                return peers
            if time.monotonic() > deadline:
                raise LabError("BGP not established: " + "; ".join(sorted(down)[:10]))
            time.sleep(0.2)

    def wait_reachable(self, node: str, address: str, timeout: float = 60.0) -> float:
        """Wait until `node` gets an answer from `address` (the overlay has converged between them);
        returns the seconds it took, raises `LabError` naming both ends at the deadline."""
        started = time.monotonic()
        family = "-6" if ":" in address else "-4"
        while True:
            answered = self.exec_in(node, ["ping", family, "-n", "-c", "1", "-W", "1", address], timeout=10)
            if answered.returncode == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise LabError(f"{node} gets no answer from {address} after {timeout:g} s: "
                               f"{_tail(answered.stdout + answered.stderr, 2)}")

    def status(self) -> list[NodeStatus]:
        return node_statuses(self.state)

    def down(self) -> list[str]:
        return down(self.topology)


def _frr_dirs(state: NodeState) -> tuple[Path, Path] | None:
    if state.role != Role.FRR:
        return None
    return (Path(state.node_dir) / "frr", Path(state.frr_run_dir))


def node_statuses(state: LabState) -> list[NodeStatus]:
    result = []
    for name, node in state.nodes.items():
        exists = netns.netns_exists(node.namespace)
        processes = {process: netns.process_alive(pid) for process, pid in node.pids.items()}
        if not exists:
            condition = "missing"
        elif processes and all(processes.values()):
            condition = "running"
        else:
            condition = "degraded"
        result.append(NodeStatus(name, node.kind, node.role, node.namespace, node.mgmt_ipv4, condition, processes))
    return result


def lab_healthy(state: LabState) -> bool:
    return state.phase == "running" and all(s.state == "running" for s in node_statuses(state))


# --- up ------------------------------------------------------------------------------------------------


def plan(topology: Topology, fingerprint: str, configs: Path | None) -> LabState:
    lab_dir = topology.lab_dir
    state = LabState(
        name=topology.name, topology=str(topology.file), lab_dir=str(lab_dir), runtime="netns",
        bridge=bridge_name(topology.name), subnet=str(topology.mgmt.subnet),
        gateway=str(topology.mgmt.gateway), link_group=link_group(topology.name),
        fingerprint=fingerprint, configs=str(configs) if configs else None, owner_pid=os.getpid(),
    )
    for name, node in topology.nodes.items():
        namespace = topology.namespace(name)
        frr = node.role is Role.FRR
        state.nodes[name] = NodeState(
            name=name, namespace=namespace, kind=node.kind, role=node.role.value, image=node.image,
            mgmt_ipv4=node.mgmt_ipv4, mgmt_veth=mgmt_veth_name(topology.name, name), node_dir=str(lab_dir / name),
            frr_run_dir=str(netns.FRR_RUN / namespace) if frr else "",
            frr_etc_link=str(netns.FRR_ETC / namespace) if frr else "",
            interfaces=[interface for interface, _ in topology.interfaces_of(name)],
        )
    state.links = [[str(link.a), str(link.b)] for link in topology.links]
    return state


def up(
    topology: Topology, configs: Path | None = None, reconfigure: bool = False, progress: Progress = _quiet
) -> Lab:
    """Bring a topology up with the netns runtime (idempotent: a running, unchanged lab is left alone)."""
    check_runnable(topology)
    wan.declared(topology)  # bad impairment values are bad input: reported before anything exists
    startups = node_startups(topology, configs)
    check_system(topology)
    fingerprint = hashlib.sha256((topology.digest() + configs_digest(startups)).encode()).hexdigest()
    with lab_lock(topology.name):
        existing = LabState.load(topology.name)
        if existing is not None:
            reused = _handle_existing(existing, topology, fingerprint, reconfigure, progress)
            if reused is not None:
                return reused
        else:
            _refuse_foreign_leftovers(topology)
        check_mgmt_subnet(topology, bridge_name(topology.name))
        state = plan(topology, fingerprint, configs)
        state.save()  # the plan is on record before the first namespace exists
        try:
            warnings = _build(topology, state, startups, progress)
        except BaseException:
            state.phase = "failed"
            state.save()
            progress("up failed: rolling back")
            teardown(state, topology)
            raise
        state.phase = "running"
        state.save()
        # containerlab settings this runtime could not honour are said once, when the lab is built
        return Lab(topology, state, [*topology.netns_ignores, *warnings])


def _handle_existing(
    existing: LabState, topology: Topology, fingerprint: str, reconfigure: bool, progress: Progress
) -> Lab | None:
    if existing.topology != str(topology.file):
        raise LabError(
            f"lab {topology.name} is already up from {existing.topology}; lab names are global "
            f"(namespaces {topology.name}-*): run `vxauto lab down {existing.topology}` first"
        )
    if lab_healthy(existing):
        if existing.fingerprint == fingerprint and not reconfigure:
            progress(f"lab {topology.name} is already running; nothing to do")
            return Lab(topology, existing)
        if not reconfigure:
            raise LabError(
                f"lab {topology.name} is running with a different topology or configs; use --reconfigure "
                "to rebuild it, or `vxauto lab down` first"
            )
        progress(f"reconfigure: removing the running lab {topology.name}")
    else:
        progress(f"lab {topology.name} was left incomplete ({existing.phase}): cleaning it up first")
    teardown(existing, topology)
    return None


def _refuse_foreign_leftovers(topology: Topology) -> None:
    """Never touch namespaces, links or a lab directory that are not on record as ours."""
    taken = [topology.namespace(name) for name in topology.nodes if netns.netns_exists(topology.namespace(name))]
    if netns.root_link_exists(bridge_name(topology.name)):
        taken.append(f"bridge {bridge_name(topology.name)}")
    lab_dir = topology.lab_dir
    if lab_dir.is_dir() and any(lab_dir.iterdir()) and not (lab_dir / MARKER).exists():
        taken.append(f"directory {lab_dir} (e.g. from containerlab itself)")
    if taken:
        raise LabError(
            f"{', '.join(taken)} already exist but are not recorded as a vxauto lab; refusing to touch them"
        )


def _build(topology: Topology, state: LabState, startups: dict[str, NodeStartup], progress: Progress) -> list[str]:
    started = time.monotonic()
    _write_lab_dir(topology, state, startups)
    progress(f"lab directory {state.lab_dir}")
    netns.create_bridge(state.bridge, state.gateway, topology.mgmt.subnet.prefixlen, f"vxauto lab {state.name}")
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        identities = pool.map(netns.create_netns, [node.namespace for node in state.nodes.values()])
        for node, identity in zip(state.nodes.values(), identities, strict=True):
            node.netns_inode = identity[1]
    state.save()
    netns.create_mgmt_veths(
        state.bridge, [(n.mgmt_veth, n.namespace) for n in state.nodes.values()], f"vxauto lab {state.name}",
        state.link_group,
    )
    _create_links(topology, pool_size=MAX_WORKERS)
    progress(f"{len(state.nodes)} namespaces, {len(topology.links)} links, bridge {state.bridge} "
             f"({time.monotonic() - started:.1f}s)")
    warnings: list[str] = []
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        results = pool.map(lambda name: _start_node(topology, state, name, startups[name]), list(state.nodes))
        for node_warnings in results:
            warnings += node_warnings
    state.save()
    for applied in wan.apply_declared(topology, state):
        progress(f"{applied.node}:{applied.interface}: {' '.join(applied.impairment.flags())} ({applied.method})")
    _write_inventories(topology, state)
    progress(f"{len(state.nodes)} nodes up, SSH answering ({time.monotonic() - started:.1f}s)")
    return warnings


def _create_links(topology: Topology, pool_size: int) -> None:
    by_namespace: dict[str, list[tuple[str, str, str, int]]] = defaultdict(list)
    for link in topology.links:
        by_namespace[topology.namespace(link.a.node)].append(
            (link.a.interface, topology.namespace(link.b.node), link.b.interface, link.mtu)
        )
    with ThreadPoolExecutor(max_workers=pool_size) as pool:
        list(pool.map(lambda item: netns.create_veth_links(*item), by_namespace.items()))


# --- lab directory -------------------------------------------------------------------------------------


def _write_lab_dir(topology: Topology, state: LabState, startups: dict[str, NodeStartup]) -> None:
    lab_dir = Path(state.lab_dir)
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / MARKER).write_text(json.dumps({"lab": state.name, "topology": state.topology}) + "\n")
    login = ensure_keypair(lab_dir / LOGIN_KEY, f"vxauto-lab-{state.name}")
    (lab_dir / AUTHORIZED_KEYS).write_text(login.public_line() + "\n", encoding="utf-8")
    known: list[tuple[list[str], str]] = []
    for name, node in state.nodes.items():
        node_dir = Path(node.node_dir)
        node_dir.mkdir(parents=True, exist_ok=True)
        host_key = ensure_keypair(node_dir / "ssh_host_ed25519_key", f"root@{name}")
        known.append(([node.mgmt_ipv4, topology.long_name(name), name], host_key.public_key()))
        (node_dir / "sshd_config").write_text(
            sshd_config_text(node.mgmt_ipv4, host_key.private, lab_dir / AUTHORIZED_KEYS, node_dir / "sshd.pid"),
            encoding="utf-8",
        )
        if node.role == Role.FRR:
            _prepare_frr_dirs(node, startups[name])
    (lab_dir / KNOWN_HOSTS).write_text(known_hosts_text(known), encoding="utf-8")
    hosts = [(name, topology.long_name(name), node.mgmt_ipv4) for name, node in state.nodes.items()]
    (lab_dir / SSH_CONFIG).write_text(
        ssh_config_text(hosts, lab_dir / LOGIN_KEY, lab_dir / KNOWN_HOSTS), encoding="utf-8"
    )


def _prepare_frr_dirs(node: NodeState, startup: NodeStartup) -> None:
    """The node's /etc/frr (in the lab directory) and /run/frr (owned by FRR's user)."""
    etc = Path(node.node_dir) / "frr"
    etc.mkdir(exist_ok=True)
    (etc / "frr.conf").write_text(startup.frr_config or "", encoding="utf-8")
    (etc / "vtysh.conf").write_text("service integrated-vtysh-config\n", encoding="utf-8")
    (etc / "daemons.vxauto").write_text("".join(f"{d}=yes\n" for d in startup.daemons), encoding="utf-8")
    _symlink(etc / node.namespace, Path("."))  # `vtysh -N <ns>` inside the node finds the same files
    run = Path(node.frr_run_dir)
    run.mkdir(parents=True, exist_ok=True)
    frr_user = pwd.getpwnam("frr")
    os.chown(run, frr_user.pw_uid, frr_user.pw_gid)
    _symlink(run / node.namespace, Path("."))
    _symlink(Path(node.frr_etc_link), etc)  # root's `vtysh -N <ns>` reads and writes the node's config


def _symlink(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        if link.is_symlink():
            link.unlink()
        else:
            raise LabError(f"{link} exists and is not a vxauto symlink")
    link.symlink_to(target)


def _write_inventories(topology: Topology, state: LabState) -> None:
    lab_dir = Path(state.lab_dir)
    nodes = [
        InventoryNode(name, topology.long_name(name), node.kind, node.mgmt_ipv4, topology.nodes[name].labels)
        for name, node in state.nodes.items()
    ]
    key, known = lab_dir / LOGIN_KEY, lab_dir / KNOWN_HOSTS
    (lab_dir / NORNIR_INVENTORY).write_text(nornir_simple_inventory(nodes, key, known), encoding="utf-8")
    (lab_dir / ANSIBLE_INVENTORY).write_text(ansible_inventory(nodes, key, known), encoding="utf-8")


# --- starting a node -----------------------------------------------------------------------------------


def _run_in_node(state: NodeState, argv: list[str], env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        netns.node_argv(state.namespace, state.name, argv, _frr_dirs(state)),
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )


def _start_node(topology: Topology, lab: LabState, name: str, startup: NodeStartup) -> list[str]:
    state = lab.nodes[name]
    node = topology.nodes[name]
    netns.configure_node_links(state.namespace, state.mgmt_ipv4, topology.mgmt.subnet.prefixlen, state.interfaces)
    _apply_sysctls(state, node)
    for script in startup.scripts:
        result = _run_in_node(state, ["sh", str(script)])
        _log(state, f"$ sh {script}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            output = _tail(result.stderr or result.stdout)
            raise LabError(f"{name}: {script} failed (exit {result.returncode}): {output}{_kernel_hint(output)}")
    if state.role == Role.FRR:
        _start_frr(state, startup)
    if state.role == Role.PYVTEP and startup.pyvtep_config is not None:
        _start_pyvtep(state, startup.pyvtep_config)
    _start_sshd(state)
    return _run_exec_lines(state, node)


def _apply_sysctls(state: NodeState, node: Node) -> None:
    values = {**(FRR_ROUTER_SYSCTLS if state.role == Role.FRR else {}), **node.sysctls}
    if not values:
        return
    result = subprocess.run(
        ["ip", "netns", "exec", state.namespace, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())],
        capture_output=True, text=True, check=False, timeout=30,
    )
    if result.returncode != 0:
        raise LabError(f"{state.name}: sysctls failed: {_tail(result.stderr)}")


def _start_frr(state: NodeState, startup: NodeStartup) -> None:
    run = Path(state.frr_run_dir)
    # All daemons at once: `-d` returns once a daemon is initialised, and the others find zebra on their own.
    launched = {}
    for daemon in startup.daemons:
        argv = [str(netns.FRR_BIN / daemon), "-d", "-P", "0", "-i", f"/run/frr/{daemon}.pid",
                "--log", "file:/run/frr/frr.log"]
        if daemon == "zebra":
            argv += ["-s", "90000000"]  # a large netlink buffer, as FRR's own daemons file sets it
        launched[daemon] = subprocess.Popen(
            netns.node_argv(state.namespace, state.name, argv, _frr_dirs(state)),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    for daemon, process in launched.items():
        output, _ = process.communicate(timeout=DAEMON_TIMEOUT)
        if process.returncode != 0:
            raise LabError(f"{state.name}: {daemon} did not start: {_tail(output)}")
    sockets = [run / f"{daemon}.vty" for daemon in startup.daemons]
    missing = netns.wait_for_files([*sockets, *(run / f"{d}.pid" for d in startup.daemons)], DAEMON_TIMEOUT)
    if missing:
        absent = ", ".join(map(str, missing))
        raise LabError(f"{state.name}: FRR not ready after {DAEMON_TIMEOUT:.0f}s (missing {absent})")
    for daemon in startup.daemons:
        pid = netns.read_pid(run / f"{daemon}.pid")
        if pid:
            state.pids[daemon] = pid
    result = _run_in_node(state, ["vtysh", "-b"], timeout=60)
    _log(state, f"$ vtysh -b\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise LabError(
            f"{state.name}: FRR rejected its startup configuration (vtysh -b, exit {result.returncode}): "
            f"{_tail(result.stdout + result.stderr)}"
        )


def _start_pyvtep(state: NodeState, config: Path) -> None:
    """Run pyvtep in the node (after its scripts made the bridges); ready when its API answers `status`."""
    from vxauto.vtep.config import load_config

    socket_path = load_config(config).socket_path
    # pyvtep's scratch files (its GoBGP configuration) go into the node's directory, which `down` removes;
    # its API socket lives where its configuration says, so `down` is told to remove that too
    scratch = Path(state.node_dir) / "tmp"
    scratch.mkdir(exist_ok=True)
    state.runtime_files.append(str(socket_path))
    log = open(Path(state.node_dir) / "pyvtep.log", "ab")  # noqa: SIM115 - handed to the daemon
    try:
        process = subprocess.Popen(
            netns.node_argv(state.namespace, state.name, [sys.executable, "-m", "vxauto.vtep", "run", str(config)],
                            None),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "TMPDIR": str(scratch)},
        )
    finally:
        log.close()
    state.pids["pyvtep"] = process.pid
    deadline = time.monotonic() + DAEMON_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"{state.name}: pyvtep exited with {process.returncode}: "
                           f"{_tail((Path(state.node_dir) / 'pyvtep.log').read_text(errors='replace'))}")
        if _pyvtep_answers(socket_path):
            return
        time.sleep(0.1)
    raise LabError(f"{state.name}: pyvtep's API {socket_path} does not answer after {DAEMON_TIMEOUT:.0f}s")


def _pyvtep_answers(socket_path: Path) -> bool:
    from vxauto.vtep.api import request

    try:
        request(socket_path, "status", timeout=1)
    except VxautoError:  # not listening yet (or not answering): keep waiting
        return False
    return True


def _start_sshd(state: NodeState) -> None:
    node_dir = Path(state.node_dir)
    netns.SSHD_PRIVSEP.mkdir(parents=True, exist_ok=True)
    result = _run_in_node(state, [str(netns.SSHD), "-f", str(node_dir / "sshd_config"), "-E",
                                  str(node_dir / "sshd.log")])
    if result.returncode != 0:
        raise LabError(f"{state.name}: sshd did not start: {_tail(result.stderr or result.stdout)}")
    if not netns.wait_for_ssh(state.mgmt_ipv4, SSH_TIMEOUT):
        raise LabError(f"{state.name}: sshd does not answer on {state.mgmt_ipv4}:22 after {SSH_TIMEOUT:.0f}s")
    pid = netns.read_pid(node_dir / "sshd.pid")
    if pid:
        state.pids["sshd"] = pid


def _run_exec_lines(state: NodeState, node: Node) -> list[str]:
    """containerlab runs `exec` after the node is up and reports failures without failing the deploy."""
    warnings = []
    for line in node.exec:
        result = _run_in_node(state, ["sh", "-c", line], env=node.env)
        _log(state, f"$ {line}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            warnings.append(f"{state.name}: exec {line!r} failed (exit {result.returncode}): "
                            f"{_tail(result.stderr or result.stdout)}")
    return warnings


def _kernel_hint(output: str) -> str:
    """`Unknown device type` means the kernel lacks a link type the script creates: say which ones."""
    if "Unknown device type" not in output:
        return ""
    missing = netns.missing_link_kinds()
    if not missing:
        return ""
    return f" (this kernel cannot create {', '.join(missing)} interfaces)"


def _log(state: NodeState, text: str) -> None:
    with open(Path(state.node_dir) / "startup.log", "a", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


# --- down ----------------------------------------------------------------------------------------------


def teardown(state: LabState | None, topology: Topology | None) -> list[str]:
    """Remove everything a lab created, from its record and/or its topology; returns what could not go."""
    names = _teardown_plan(state, topology)
    leftovers: list[str] = []
    for _attempt in range(3):  # a killed `up` may have children finishing their last step meanwhile
        _kill_lab_processes(names)
        # The management veths go as one device group: deleting veths one by one costs a kernel
        # synchronisation each (seconds for a large lab). Data links die with their namespaces.
        # The bridge goes before the namespaces: the kernel tears namespaces down in the background holding
        # the rtnl lock, which would make any later link operation wait for all of them.
        netns.delete_link_group(names.link_group, names.root_links)
        netns.delete_root_links([link for link in [*names.root_links, names.bridge] if link])
        for namespace in names.namespaces:
            netns.remove_netns(namespace)
        netns.wait_links_gone(names.root_links, timeout=5.0)
        _remove_paths(names)
        leftovers = _leftovers(names)
        if not leftovers:
            break
        time.sleep(0.2)
    if state is not None and not leftovers:
        state.forget()
    return leftovers


@dataclass
class _Names:
    namespaces: list[str] = field(default_factory=list)
    identities: set[tuple[int, int]] = field(default_factory=set)
    inodes: set[int] = field(default_factory=set)
    root_links: list[str] = field(default_factory=list)
    bridge: str = ""
    link_group: int = 0
    run_dirs: list[Path] = field(default_factory=list)
    etc_links: list[Path] = field(default_factory=list)
    sockets: list[Path] = field(default_factory=list)
    lab_dir: Path | None = None


def _teardown_plan(state: LabState | None, topology: Topology | None) -> _Names:
    names = _Names()
    if state is None:
        # Nothing on record: `up` records before it creates, so no namespace or link can be ours. Only
        # files that outlive a reboot (the lab directory, /etc/frr links into it) are worth a look.
        if topology is not None:
            planned = plan(topology, "", None)
            names.lab_dir = Path(planned.lab_dir)
            names.etc_links = [Path(n.frr_etc_link) for n in planned.nodes.values() if n.frr_etc_link]
        return names
    names.bridge = state.bridge
    names.link_group = state.link_group
    names.lab_dir = Path(state.lab_dir)
    for node in state.nodes.values():
        names.namespaces.append(node.namespace)
        names.root_links.append(node.mgmt_veth)
        if node.netns_inode:
            names.inodes.add(node.netns_inode)
        if node.frr_run_dir:
            names.run_dirs.append(Path(node.frr_run_dir))
        if node.frr_etc_link:
            names.etc_links.append(Path(node.frr_etc_link))
        names.sockets += [Path(path) for path in node.runtime_files]
    return names


def _kill_lab_processes(names: _Names) -> None:
    identities = {identity for identity in map(netns.netns_identity, names.namespaces) if identity}
    if not identities and not names.inodes:
        return
    nsfs_devices = {device for device, _ in identities} or {_nsfs_device()}
    identities |= {(device, inode) for device in nsfs_devices for inode in names.inodes}
    pids = netns.pids_in_namespaces(identities)
    stuck = netns.kill_processes(pids)
    if stuck:
        raise LabError(f"processes would not die: {stuck}")


def _nsfs_device() -> int:
    """The device number of nsfs (every namespace inode lives on it), read from our own namespace."""
    return os.stat("/proc/self/ns/net").st_dev


def _remove_paths(names: _Names) -> None:
    for run_dir in names.run_dirs:
        shutil.rmtree(run_dir, ignore_errors=True)
    for path in _our_sockets(names):
        path.unlink(missing_ok=True)
    for link in names.etc_links:
        if link.is_symlink() and names.lab_dir is not None and str(names.lab_dir) in os.readlink(link):
            link.unlink()
    if names.lab_dir is not None and (names.lab_dir / MARKER).exists():
        shutil.rmtree(names.lab_dir, ignore_errors=True)


def _our_sockets(names: _Names) -> list[Path]:
    """The recorded daemon sockets still there (only sockets: a path reused for a file is not ours)."""
    return [path for path in names.sockets if path.is_socket()]


def _leftovers(names: _Names) -> list[str]:
    found = [f"namespace {ns}" for ns in names.namespaces if netns.netns_exists(ns)]
    found += [f"link {link}" for link in [*names.root_links, names.bridge] if link and netns.root_link_exists(link)]
    found += [str(path) for path in names.run_dirs if path.exists()]
    found += [str(path) for path in _our_sockets(names)]
    found += [str(path) for path in names.etc_links
              if path.is_symlink() and names.lab_dir is not None and str(names.lab_dir) in os.readlink(path)]
    if names.lab_dir is not None and (names.lab_dir / MARKER).exists():
        found.append(str(names.lab_dir))
    return found


def down(topology: Topology) -> list[str]:
    """Remove a lab (recorded state plus the names its topology implies); returns leftovers."""
    with lab_lock(topology.name):
        state = LabState.load(topology.name)
        if state is not None and state.topology != str(topology.file):
            raise LabError(f"lab {topology.name} was brought up from {state.topology}, not {topology.file}")
        if state is None:  # e.g. another VXAUTO_LAB_REGISTRY: the copy in the lab directory is a record too
            copy = LabState.load_file(topology.lab_dir / LAB_DIR_COPY)
            state = copy if copy is not None and copy.topology == str(topology.file) else None
        return teardown(state, topology)


def down_by_name(name: str) -> list[str] | None:
    """Remove a recorded lab by its name (its topology file may be gone); None if there is no such lab."""
    with lab_lock(name):
        state = LabState.load(name)
        return None if state is None else teardown(state, None)


def down_all() -> dict[str, list[str]]:
    """Remove every lab on record; lab name -> leftovers."""
    results: dict[str, list[str]] = {}
    for name in recorded_labs():
        with lab_lock(name):
            state = LabState.load(name)
            if state is not None:
                results[name] = teardown(state, None)
    return results


def iter_pids(state: LabState) -> Iterable[int]:
    for node in state.nodes.values():
        yield from node.pids.values()
