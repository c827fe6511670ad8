"""System primitives of the netns runtime: namespaces, veths, the management bridge, node processes.

Netlink work goes through pyroute2 (one socket per namespace, no `ip` process per step). Processes that
must run *inside* a node (FRR daemons, sshd, scripts, `exec`) start through `node_argv`: `ip netns exec`
(the node's network namespace, and a private mount namespace), `unshare --uts` (the node's own hostname,
so prompts and `show` outputs name the node) and, on FRR nodes, two bind mounts that give the node its own
`/etc/frr` and `/run/frr`, so a plain `vtysh` inside the node (an SSH session, `vxauto lab exec`) talks to
that node's daemons and `write memory` lands in the node's directory, exactly as in an FRR container. The
SSH login user's start-up files of the lab machine are masked in every node (`MASKED_START_FILES`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shlex
import signal
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

NETNS_DIR = Path("/run/netns")
FRR_BIN = Path("/usr/lib/frr")
FRR_RUN = Path("/run/frr")
FRR_ETC = Path("/etc/frr")
SSHD = Path("/usr/sbin/sshd")
SSHD_PRIVSEP = Path("/run/sshd")  # sshd's privilege separation directory (Debian creates it at boot)
IFNAMSIZ = 15

# sh -c scripts run inside a node; "$1" is the node name, then (FRR nodes) its /etc/frr and /run/frr.
#: The lab machine's start-up files of the SSH login user, masked inside every node: a node's shell starts
#: as a container's would. bash reads ~/.bashrc for every command an SSH session runs, and the machine's
#: (pyenv's or conda's `init` lines) are not the device's: pyenv's `rehash` in there took a machine-wide
#: lock for every SSH command, and one session killed mid-rehash left the lock behind, after which every
#: SSH command into every node waited 60 s for it (deploy and validate timed out on every host).
MASKED_START_FILES = (".bashrc", ".bash_profile", ".bash_login", ".profile")


def start_files_mask() -> str:
    """Shell words that bind /dev/null over each of the login user's start-up files that exist; run them in
    a private mount namespace (a node's is), so the machine's own files stay as they are."""
    home = _login_home()
    paths = " ".join(shlex.quote(f"{home}/{name}") for name in MASKED_START_FILES)
    return f'for f in {paths}; do if [ -f "$f" ]; then mount --bind /dev/null "$f" || exit 125; fi; done; '


def _login_home() -> str:
    from vxauto.lab.sshkeys import LOGIN_USER  # its key handling (cryptography) is not needed here

    try:
        return pwd.getpwnam(LOGIN_USER).pw_dir
    except KeyError:  # no such user: nothing of theirs to mask
        return "/nonexistent"


_HOST_SHELL = 'hostname "$1" || exit 125; shift; {mask}exec "$@"'
_FRR_SHELL = (
    'hostname "$1" && mount --bind "$2" /etc/frr && mount --bind "$3" /run/frr || exit 125; '
    'shift 3; {mask}exec "$@"'
)


class LabError(Exception):
    """A lab operation failed for a reason outside the user's input (system, daemon, timeout)."""


# --- namespaces ----------------------------------------------------------------------------------------


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def netns_exists(name: str) -> bool:
    return netns_path(name).exists()


def netns_identity(name: str) -> tuple[int, int] | None:
    """(device, inode) of a namespace: what /proc/<pid>/ns/net of its processes resolves to."""
    try:
        info = os.stat(netns_path(name))
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def create_netns(name: str) -> tuple[int, int]:
    if netns_exists(name):
        raise LabError(f"network namespace {name} already exists")
    pyroute2_netns.create(name)
    identity = netns_identity(name)
    if identity is None:
        raise LabError(f"network namespace {name} was not created")
    return identity


def remove_netns(name: str) -> None:
    if not netns_path(name).exists() and not netns_path(name).is_symlink():
        return
    with contextlib.suppress(FileNotFoundError):
        pyroute2_netns.remove(name)


# --- links ---------------------------------------------------------------------------------------------


def valid_ifname(name: str) -> bool:
    """Linux interface names: 1-15 bytes, no '/', ':', whitespace; not '.' or '..'."""
    return (
        0 < len(name.encode()) <= IFNAMSIZ
        and name not in (".", "..")
        and not any(char in name for char in "/: \t\n")
    )


def create_bridge(name: str, gateway: str, prefixlen: int, alias: str) -> None:
    with IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        index = ipr.link_lookup(ifname=name)[0]
        ipr.link("set", index=index, ifalias=alias)
        ipr.addr("add", index=index, address=gateway, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")


def create_mgmt_veths(bridge: str, veths: Iterable[tuple[str, str]], alias: str, group: int) -> None:
    """One veth per node: `root_name` on the bridge (in device `group`), `eth0` in the node's namespace."""
    with IPRoute() as ipr:
        bridge_index = ipr.link_lookup(ifname=bridge)[0]
        for root_name, namespace in veths:
            ipr.link(
                "add", ifname=root_name, kind="veth",
                peer={"ifname": "eth0", "net_ns_fd": str(netns_path(namespace))},
            )
            index = ipr.link_lookup(ifname=root_name)[0]
            ipr.link("set", index=index, master=bridge_index, ifalias=alias, group=group, state="up")


def delete_link_group(group: int, expected: Iterable[str]) -> bool:
    """Delete a device group in one call (one kernel synchronisation for all of them), but only when every
    member is one of `expected`; returns False when it left the group alone."""
    if not group:
        return False
    allowed = set(expected)
    with IPRoute() as ipr:
        members = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links() if link.get_attr("IFLA_GROUP") == group]
        if not members:
            return True
        if not set(members) <= allowed:
            return False
        ipr.link("del", group=group)
    return True


def create_veth_links(namespace: str, links: Iterable[tuple[str, str, str, int]]) -> None:
    """Links that start in `namespace`: (local name, peer namespace, peer name, mtu), created in one go."""
    with IPRoute(netns=namespace) as ipr:
        for local, peer_namespace, peer, mtu in links:
            ipr.link(
                "add", ifname=local, kind="veth", mtu=mtu,
                peer={"ifname": peer, "net_ns_fd": str(netns_path(peer_namespace)), "mtu": mtu},
            )


def configure_node_links(namespace: str, mgmt_address: str, prefixlen: int, interfaces: Iterable[str]) -> None:
    """Inside a node: loopback up, eth0 addressed and up, every data interface up."""
    with IPRoute(netns=namespace) as ipr:
        for name in ("lo", "eth0", *interfaces):
            found = ipr.link_lookup(ifname=name)
            if not found:
                raise LabError(f"{namespace}: interface {name} is missing")
            if name == "eth0":
                ipr.addr("add", index=found[0], address=mgmt_address, prefixlen=prefixlen)
            ipr.link("set", index=found[0], state="up")


def delete_root_links(names: Iterable[str]) -> None:
    """Delete links of the root namespace by name (missing ones are fine: a veth dies with its namespace)."""
    with IPRoute() as ipr:
        for name in names:
            for index in ipr.link_lookup(ifname=name):
                try:
                    ipr.link("del", index=index)
                except Exception as exc:  # vanished meanwhile: its peer's namespace went away
                    if getattr(exc, "code", None) != errno.ENODEV:
                        raise


def wait_links_gone(names: Iterable[str], timeout: float) -> list[str]:
    """Wait until none of these root-namespace links exists; returns the ones still there."""
    present = list(names)
    deadline = time.monotonic() + timeout
    while True:
        present = [name for name in present if root_link_exists(name)]
        if not present or time.monotonic() > deadline:
            return present
        time.sleep(0.02)


def root_link_exists(name: str) -> bool:
    # sysfs, not netlink: a netlink dump waits for the rtnl lock, which the kernel holds while it tears
    # down namespaces in the background (seconds after a large lab's `down`).
    return bool(name) and os.path.lexists(f"/sys/class/net/{name}")


def root_networks() -> list[tuple[str, str]]:
    """(network, device) of every IPv4 address and route of the root namespace (main table)."""
    found: list[tuple[str, str]] = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for address in ipr.get_addr(family=socket.AF_INET):
            found.append((f"{address.get_attr('IFA_ADDRESS')}/{address['prefixlen']}",
                          names.get(address["index"], "?")))
        for route in ipr.get_routes(family=socket.AF_INET, table=254):
            if route["dst_len"] == 0:
                continue  # the default route overlaps everything and says nothing about the subnet
            device = names.get(route.get_attr("RTA_OIF"), "?")
            found.append((f"{route.get_attr('RTA_DST')}/{route['dst_len']}", device))
    return found


# --- processes -----------------------------------------------------------------------------------------


def node_argv(namespace: str, node: str, argv: list[str], frr_dirs: tuple[Path, Path] | None) -> list[str]:
    """The command line that runs `argv` inside a node (see the module docstring)."""
    prefix = ["ip", "netns", "exec", namespace, "unshare", "--uts", "--", "sh", "-c"]
    mask = start_files_mask()
    if frr_dirs is None:
        return [*prefix, _HOST_SHELL.format(mask=mask), "vxauto-node", node, *argv]
    etc, run = frr_dirs
    return [*prefix, _FRR_SHELL.format(mask=mask), "vxauto-node", node, str(etc), str(run), *argv]


def pids_in_namespaces(identities: Iterable[tuple[int, int]]) -> list[int]:
    """Every live process whose network namespace is one of `identities` (zombies have none)."""
    wanted = set(identities)
    if not wanted:
        return []
    found = []
    own = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            info = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in wanted:
            found.append(int(entry.name))
    return found


def process_alive(pid: int) -> bool:
    """True for a running process; False when gone or a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")


def kill_processes(pids: Iterable[int], timeout: float = 3.0) -> list[int]:
    """SIGKILL and wait. A lab's processes hold no state worth a graceful stop: their namespace goes too."""
    pending = [pid for pid in set(pids) if pid > 1]
    for pid in pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [pid for pid in pending if process_alive(pid)]
        if pending:
            time.sleep(0.02)
    return pending


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def wait_for_files(paths: Iterable[Path], timeout: float) -> list[Path]:
    """Wait until every path exists; returns the ones still missing at the deadline."""
    missing = list(paths)
    deadline = time.monotonic() + timeout
    while missing:
        missing = [path for path in missing if not path.exists()]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return missing


def wait_for_ssh(address: str, timeout: float) -> bool:
    """True once the node's sshd sends its banner on port 22."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 22), timeout=1.0) as connection:
                connection.settimeout(2.0)
                if connection.recv(8).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# --- kernel features -----------------------------------------------------------------------------------

# Link kinds rendered configs create, and a way to try each in a scratch namespace.
PROBED_LINK_KINDS: dict[str, dict[str, object]] = {
    "vlan": {"kind": "vlan", "vlan_id": 10},
    "vxlan": {"kind": "vxlan", "vxlan_id": 10, "vxlan_port": 4789},
    "bridge": {"kind": "bridge"},
    "vrf": {"kind": "vrf", "vrf_table": 10},
    "dummy": {"kind": "dummy"},
}


_PROBE_LOCK = threading.Lock()
_probed: list[str] | None = None


def missing_link_kinds() -> list[str]:
    """Link kinds this kernel cannot create (e.g. no CONFIG_VLAN_8021Q), tried once in a scratch namespace."""
    global _probed
    with _PROBE_LOCK:
        if _probed is None:
            _probed = _probe_link_kinds(f"vxt-probe-{os.getpid()}")
        return list(_probed)


def _probe_link_kinds(namespace: str) -> list[str]:
    missing = []
    create_netns(namespace)
    try:
        with IPRoute(netns=namespace) as ipr:
            ipr.link("add", ifname="probe0", kind="veth", peer={"ifname": "probe1"})
            parent = ipr.link_lookup(ifname="probe0")[0]
            for name, spec in PROBED_LINK_KINDS.items():
                extra = {"link": parent} if name == "vlan" else {}
                try:
                    ipr.link("add", ifname=f"p-{name}", **spec, **extra)
                except Exception:  # an unsupported kind fails with EOPNOTSUPP, an unknown one with ENOENT
                    missing.append(name)
    finally:
        for pid in pids_in_namespaces([identity] if (identity := netns_identity(namespace)) else []):
            kill_processes([pid])
        remove_netns(namespace)
    return missing
