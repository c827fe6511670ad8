"""Starting a node of a netns lab: links, sysctls, its scripts, then FRR, pyvtep and sshd, each ready by
its own sign (pid files and vty sockets, an API answer, an SSH banner), then containerlab's `exec` lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from vxauto.errors import VxautoError
from vxauto.lab import netns
from vxauto.lab.configs import NodeStartup
from vxauto.lab.kinds import Role
from vxauto.lab.netns import LabError
from vxauto.lab.state import LabState, NodeState
from vxauto.lab.topology import Node, Topology

FRR_ROUTER_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
DAEMON_TIMEOUT = 20.0
#: zebra's ZAPI socket in the node's FRR run directory (FRR's default `-z` path, /var/run/frr/zserv.api).
ZSERV_SOCKET = "zserv.api"
SSH_TIMEOUT = 20.0


def frr_dirs(state: NodeState) -> tuple[Path, Path] | None:
    if state.role != Role.FRR:
        return None
    return (Path(state.node_dir) / "frr", Path(state.frr_run_dir))


def _run_in_node(state: NodeState, argv: list[str], env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        netns.node_argv(state.namespace, state.name, argv, frr_dirs(state)),
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )


def start_node(topology: Topology, lab: LabState, name: str, startup: NodeStartup) -> list[str]:
    state = lab.nodes[name]
    node = topology.nodes[name]
    netns.configure_node_links(state.namespace, state.mgmt_ipv4, topology.mgmt.subnet.prefixlen, state.interfaces)
    _apply_sysctls(state, node)
    for script in startup.scripts:
        result = _run_in_node(state, ["sh", str(script)])
        _log(state, f"$ sh {script}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            output = tail(result.stderr or result.stdout)
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
        raise LabError(f"{state.name}: sysctls failed: {tail(result.stderr)}")


def _start_frr(state: NodeState, startup: NodeStartup) -> None:
    run = Path(state.frr_run_dir)
    # zebra first, ready when its ZAPI socket exists; then the others at once (`-d` returns once a daemon is
    # initialised). A daemon that starts before zebra listens retries only after 10 s (FRR's zclient), and
    # bgpd without zebra has no EVPN: no VNIs, no routes of its own, no remote MACs installed, while its BGP
    # sessions come up as if all were well.
    first = [daemon for daemon in startup.daemons if daemon == "zebra"]
    _launch_frr_daemons(state, first)
    if first and netns.wait_for_files([run / ZSERV_SOCKET], DAEMON_TIMEOUT):
        raise LabError(f"{state.name}: zebra not ready after {DAEMON_TIMEOUT:.0f}s (no {run / ZSERV_SOCKET})")
    _launch_frr_daemons(state, [daemon for daemon in startup.daemons if daemon not in first])
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
            f"{tail(result.stdout + result.stderr)}"
        )


def _launch_frr_daemons(state: NodeState, daemons: list[str]) -> None:
    """Start `daemons` side by side and wait until each has daemonised (`-d`)."""
    launched = {}
    for daemon in daemons:
        argv = [str(netns.FRR_BIN / daemon), "-d", "-P", "0", "-i", f"/run/frr/{daemon}.pid",
                "--log", "file:/run/frr/frr.log"]
        if daemon == "zebra":
            argv += ["-s", "90000000"]  # a large netlink buffer, as FRR's own daemons file sets it
        launched[daemon] = subprocess.Popen(
            netns.node_argv(state.namespace, state.name, argv, frr_dirs(state)),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    for daemon, process in launched.items():
        output, _ = process.communicate(timeout=DAEMON_TIMEOUT)
        if process.returncode != 0:
            raise LabError(f"{state.name}: {daemon} did not start: {tail(output)}")


def _start_pyvtep(state: NodeState, rendered: Path) -> None:
    """Run pyvtep in the node (after its scripts made the bridges); ready when its API answers `status`.

    pyvtep runs from a copy of the rendered file in the node's directory, the node's own file: `vxauto deploy`
    writes and reloads it there, and a later `vxauto render` into the same output directory does not change
    what the node runs."""
    from vxauto.vtep.config import load_config

    config = Path(state.node_dir) / "pyvtep.yaml"
    config.write_bytes(rendered.read_bytes())
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
                           f"{tail((Path(state.node_dir) / 'pyvtep.log').read_text(errors='replace'))}")
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
        raise LabError(f"{state.name}: sshd did not start: {tail(result.stderr or result.stdout)}")
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
                            f"{tail(result.stderr or result.stdout)}")
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


def tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"
