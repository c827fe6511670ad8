"""Data-plane probes from the host nodes: reachability, the largest overlay frame, isolation.

Commands run on the endpoint hosts through a `Shell`: the lab's `exec_in` (netns lab) or SSH.
Pings dominate the run time, so every probe runs in its own thread; a positive probe is one
`ping -c 1 -W 1` (the engine in `vxauto.validate.convergence` repeats failed probes until its deadline).

Isolation must mean something. Pinging another segment's address from a host that has no route to
it fails whether or not the segments leak, so the negative probe first gives the source interface a
temporary address in the target's subnet: the target is then on-link through the source's own
segment, the ping ARPs for it there, and only a leak between the segments (a port in the wrong
bridge, a VLAN mapped to the wrong VNI, a VNI shared between tenants) can make it answer. The
temporary address is removed in a `finally`, also when the probe fails or times out.

Silence proves isolation only when the same source, in the same run, reaches what it should: each
isolation session first pings the source's own segment peers (the positive control). When the control
fails (the overlay is down, the source is cut off), the negative probes are "inconclusive", which fails.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from vxauto.devices.access import SshTarget
from vxauto.validate.expected import Endpoint, ExpectedState, Probe

PING_TIMEOUT_S = 1
COMMAND_TIMEOUT_S = 20.0
#: Negative probes send two echoes 0.2 s apart: as sensitive as a positive probe with its retry.
ISOLATION_PING = "-n -c 2 -i 0.2 -W {wait}"


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str
    #: The command could not be run at all (no connection, timeout): says nothing about the network.
    transport_error: bool = False

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).strip()


class Shell(Protocol):
    """Runs one shell command on one node."""

    def run(self, node: str, command: str, timeout: float = COMMAND_TIMEOUT_S) -> CommandResult: ...


class LabShell:
    """Commands inside the nodes of a running netns lab (`vxauto.lab.api.Lab.exec_in`)."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab

    def run(self, node: str, command: str, timeout: float = COMMAND_TIMEOUT_S) -> CommandResult:
        try:
            done = self.lab.exec_in(node, command, timeout=timeout)
        except subprocess.TimeoutExpired:
            return CommandResult(124, "", f"timed out after {timeout:g} s: {command}", transport_error=True)
        return CommandResult(done.returncode, done.stdout or "", done.stderr or "")


class SshShell:
    """Commands over SSH (paramiko), one connection per node, host keys checked against known_hosts."""

    def __init__(self, targets: dict[str, SshTarget]) -> None:
        self.targets = targets
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._failures: dict[str, str] = {}

    def _client(self, node: str) -> Any:
        import paramiko

        with self._lock:
            cached = self._clients.get(node)
            if cached is not None:
                transport = cached.get_transport()
                if transport is not None and transport.is_active():
                    return cached
                # the connection died (the node restarted sshd, a reset under load): log in again rather
                # than fail every later command of this node for the rest of the run
                cached.close()
                del self._clients[node]
            target = self.targets[node]
            client = paramiko.SSHClient()
            client.load_system_host_keys()
            if target.known_hosts:
                client.load_host_keys(target.known_hosts)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            client.connect(
                target.host, port=target.port, username=target.username, password=target.password,
                key_filename=target.key_file, timeout=10, allow_agent=target.key_file is None,
                look_for_keys=target.key_file is None,
            )
            self._clients[node] = client
            return client

    def run(self, node: str, command: str, timeout: float = COMMAND_TIMEOUT_S) -> CommandResult:
        try:
            client = self._client(node)
        except Exception as error:  # no connection: every command of this node fails the same way
            text = f"{type(error).__name__}: {error}"
            with self._lock:
                self._failures[node] = text
            return CommandResult(255, "", f"ssh to {node}: {text}", transport_error=True)
        with self._lock:
            self._failures.pop(node, None)
        try:
            _, stdout, stderr = client.exec_command(command, timeout=timeout)
            out, err = stdout.read().decode(errors="replace"), stderr.read().decode(errors="replace")
            return CommandResult(stdout.channel.recv_exit_status(), out, err)
        except Exception as error:  # any transport problem is this probe's failure
            return CommandResult(255, "", f"ssh to {node}: {type(error).__name__}: {error}", transport_error=True)

    def unreachable(self) -> dict[str, str]:
        """Node -> why the latest SSH connection to it failed (nodes that answer are not listed)."""
        with self._lock:
            return dict(self._failures)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


# --------------------------------------------------------------------------- MAC addresses


def parse_link_macs(text: str) -> dict[str, str]:
    """`ip -j link show` -> interface name -> MAC (lower case); links without an address are left out."""
    macs: dict[str, str] = {}
    for link in json.loads(text or "[]"):
        address = link.get("address")
        if link.get("link_type") == "ether" and isinstance(address, str):
            macs[link["ifname"]] = address.lower()
    return macs


@dataclass(frozen=True)
class HostMacs:
    """Endpoint -> MAC as the host itself reports it; `errors` per node that could not be read."""

    macs: dict[tuple[str, str], str]
    errors: dict[str, str]

    def of(self, endpoint: Endpoint) -> str | None:
        return self.macs.get((endpoint.node, endpoint.interface))


def read_endpoint_macs(shell: Shell, endpoints: Sequence[Endpoint], workers: int) -> HostMacs:
    nodes = sorted({e.node for e in endpoints})

    def read(node: str) -> tuple[str, dict[str, str] | str]:
        result = shell.run(node, "ip -j link show")
        if result.returncode != 0:
            return node, f"`ip -j link show` failed: {result.output or result.returncode}"
        try:
            return node, parse_link_macs(result.stdout)
        except (ValueError, KeyError, TypeError) as error:
            return node, f"`ip -j link show` unreadable: {error}"

    macs: dict[tuple[str, str], str] = {}
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(nodes) or 1))) as pool:
        for node, answer in pool.map(read, nodes):
            if isinstance(answer, str):
                errors[node] = answer
                continue
            for endpoint in endpoints:
                if endpoint.node == node and endpoint.interface in answer:
                    macs[(node, endpoint.interface)] = answer[endpoint.interface]
    return HostMacs(macs, errors)


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    passed: bool
    actual: str


def ping_command(source: Endpoint, target: str, size: int | None = None, count_and_wait: str | None = None) -> str:
    """`ping` bound to the endpoint's interface (the source address and the segment are then fixed)."""
    parts = ["ping", "-6" if source.version == 6 else "-4"]
    parts += (count_and_wait or f"-n -c 1 -W {PING_TIMEOUT_S}").split()
    if size is not None:
        parts += ["-M", "do", "-s", str(size)]
    parts += ["-I", source.interface, target]
    return " ".join(shlex.quote(part) for part in parts)


def _ping_summary(result: CommandResult) -> str:
    """The line of ping's output that says why it failed (or the first line that looks like an error)."""
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    for line in lines:
        lowered = line.lower()
        if any(word in lowered for word in ("too long", "frag needed", "unreachable", "error", "invalid",
                                            "cannot", "unknown", "timed out", "ssh to")):
            return line
    stats = next((line for line in lines if "packets transmitted" in line), None)
    return stats or (lines[-1] if lines else f"exit {result.returncode}")


def run_positive(shell: Shell, probe: Probe) -> ProbeResult:
    """`ping` / `mtu` probe: must answer. One attempt: the validation engine repeats failed probes
    until its deadline, so a fabric still converging is waited for there, with the time reported."""
    result = shell.run(probe.source.node, ping_command(probe.source, probe.target.ip, probe.size))
    if result.returncode == 0:
        return ProbeResult(probe, True, "reply")
    if result.transport_error:
        return ProbeResult(probe, False, f"cannot probe: {result.output}")
    return ProbeResult(probe, False, f"no reply: {_ping_summary(result)}")


# --------------------------------------------------------------------------- isolation


@dataclass(frozen=True)
class IsolationSession:
    """One source interface, one foreign subnet, the targets in it, and the temporary address to use."""

    source: Endpoint
    network: str
    targets: tuple[Probe, ...]
    #: None when the source already has an address in that subnet (overlapping tenant subnets).
    temporary: str | None
    #: The positive control: the source's own segment peers (other nodes), which it must reach in the
    #: same run before its silence toward another segment means anything.
    controls: tuple[Endpoint, ...] = ()


def _reserved_addresses(state: ExpectedState) -> set[str]:
    return {endpoint.ip for endpoint in state.endpoints}


def plan_isolation(state: ExpectedState, probes: Iterable[Probe]) -> tuple[list[IsolationSession], list[ProbeResult]]:
    """Group isolation probes per (source endpoint, target subnet) and give each a free address.

    Addresses are handed out from the top of the subnet down, never one an endpoint uses and never the
    same one twice, so sessions running at the same time cannot answer each other. A subnet with no free
    address cannot be probed: its probes fail with that reason (never a silent pass).
    """
    grouped: dict[tuple[Endpoint, str], list[Probe]] = {}
    for probe in probes:
        grouped.setdefault((probe.source, probe.target.network), []).append(probe)
    taken = _reserved_addresses(state)
    own_networks: dict[tuple[str, str], set[str]] = {}
    for endpoint in state.endpoints:
        own_networks.setdefault((endpoint.node, endpoint.interface), set()).add(endpoint.network)
    sessions: list[IsolationSession] = []
    impossible: list[ProbeResult] = []
    for (source, network), members in grouped.items():
        controls = control_endpoints(state, source)
        if network in own_networks.get((source.node, source.interface), set()):
            sessions.append(IsolationSession(source, network, tuple(members), None, controls))
            continue
        address = _free_address(network, taken)
        if address is None:
            impossible += [ProbeResult(p, False, f"cannot probe: no free address in {network}") for p in members]
            continue
        taken.add(address)
        sessions.append(IsolationSession(source, network, tuple(members), address, controls))
    return sessions, impossible


def control_endpoints(state: ExpectedState, source: Endpoint) -> tuple[Endpoint, ...]:
    """The endpoints of the source's own segment on other nodes (same IP version): what it must reach."""
    return tuple(e for e in state.endpoints_in(source.vni)
                 if e.node != source.node and e.version == source.version and e.network == source.network)


def _free_address(network: str, taken: set[str]) -> str | None:
    net = ipaddress.ip_network(network)
    if net.num_addresses < 4:
        return None
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    for offset in range(min(net.num_addresses - 2, 4096)):
        candidate = str(ipaddress.ip_address(last - offset))
        if candidate not in taken:
            return candidate
    return None


def _address_argv(session: IsolationSession, action: str) -> str:
    """`ip addr replace` (add, or keep, the temporary address) or `ip addr del`. Replace, not add: a probe cut
    off by a lost SSH connection could not delete its address, and `add` would then fail on every later probe
    ("Address already assigned"); the next probe takes it over and deletes it."""
    prefix = ipaddress.ip_network(session.network).prefixlen
    family = "-6" if session.source.version == 6 else "-4"
    extra = " nodad" if action == "replace" and session.source.version == 6 else ""
    return (f"ip {family} addr {action} {session.temporary}/{prefix} dev "
            f"{shlex.quote(session.source.interface)}{extra}")


def _isolation_script(session: IsolationSession) -> str:
    """Ping every target at once; one line per target: `answered <ip>`, `silent <ip>` or `error <ip> <rc>`."""
    lines = []
    for probe in session.targets:
        ping = ping_command(session.source, probe.target.ip, count_and_wait=ISOLATION_PING.format(wait=PING_TIMEOUT_S))
        lines.append(
            f"( {ping} >/dev/null 2>&1; rc=$?; "
            f"if [ $rc -eq 0 ]; then echo 'answered {probe.target.ip}'; "
            f"elif [ $rc -eq 1 ]; then echo 'silent {probe.target.ip}'; "
            f"else echo \"error {probe.target.ip} $rc\"; fi ) &"
        )
    return "\n".join([*lines, "wait"])


def _control_script(session: IsolationSession) -> str:
    """Ping every control peer at once; one line per peer: `reached <ip>` or `unreached <ip>`."""
    lines = [f"( {ping_command(session.source, peer.ip)} >/dev/null 2>&1 && echo 'reached {peer.ip}' "
             f"|| echo 'unreached {peer.ip}' ) &" for peer in session.controls]
    return "\n".join([*lines, "wait"])


def run_control(shell: Shell, session: IsolationSession) -> str | None:
    """None when the source reaches every peer of its own segment now; otherwise why the silence it is
    about to observe toward other segments would prove nothing."""
    source = session.source
    if not session.controls:
        return (f"no positive control: segment {source.segment} has no endpoint on another node for "
                f"{source.node} {source.interface} to reach")
    result = shell.run(source.node, _control_script(session))
    reached = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("reached ")}
    missed = [f"{peer.node} {peer.ip}" for peer in session.controls if peer.ip not in reached]
    if result.transport_error:
        return f"positive control did not run: {result.output}"
    if missed:
        return (f"positive control failed: {source.node} {source.interface} does not reach its own segment "
                f"{source.segment} ({', '.join(missed)})")
    return None


def run_isolation(shell: Shell, session: IsolationSession) -> list[ProbeResult]:
    node = session.source.node
    control_problem = run_control(shell, session)
    if control_problem is not None:
        return [ProbeResult(p, False, f"inconclusive: {control_problem}") for p in session.targets]
    peers = ", ".join(peer.node for peer in session.controls)
    via = (f"via {session.source.interface} with temporary {session.temporary}"
           if session.temporary else f"via {session.source.interface}") + f"; control: reached {peers}"
    added = False
    try:
        if session.temporary is not None:
            add = shell.run(node, _address_argv(session, "replace"))
            if add.returncode != 0:
                return [ProbeResult(p, False, f"cannot probe: adding {session.temporary} failed: {add.output}")
                        for p in session.targets]
            added = True
        result = shell.run(node, _isolation_script(session))
    finally:
        if added:
            shell.run(node, _address_argv(session, "del"))
    return _isolation_results(session, result, via)


def _isolation_results(session: IsolationSession, result: CommandResult, via: str) -> list[ProbeResult]:
    outcome: dict[str, str] = {}
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) >= 2:
            outcome[words[1]] = words[0] if words[0] != "error" else f"error (ping exit {' '.join(words[2:])})"
    results = []
    for probe in session.targets:
        answer = outcome.get(probe.target.ip)
        if answer == "silent":
            results.append(ProbeResult(probe, True, f"no reply ({via})"))
        elif answer == "answered":
            results.append(ProbeResult(probe, False, f"REPLY: segments leak ({via})"))
        else:
            # an error is not "no reply": the probe did not test anything
            reason = answer or f"probe did not run: {result.output or result.returncode}"
            results.append(ProbeResult(probe, False, f"cannot probe: {reason}"))
    return results


# --------------------------------------------------------------------------- running everything


def pool_map(function: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """`map` over a thread pool of at most `workers` threads (none for no items)."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(function, items))


def forget_path_mtus(shell: Shell, nodes: Iterable[str], workers: int) -> None:
    """Drop the sources' cached path MTUs before the `mtu` probes.

    A VXLAN port that cannot carry a frame answers the sender with "fragmentation needed", and the
    sender caches that smaller path MTU for ten minutes; its later DF pings then fail locally, even after
    the fabric was repaired. The probe is about the fabric as it is now, so it starts from a clean cache.
    """
    pool_map(lambda node: shell.run(node, "ip -4 route flush cache; ip -6 route flush cache"),
              sorted(set(nodes)), workers)


def run_reachability(shell: Shell, probes: Sequence[Probe], workers: int) -> list[ProbeResult]:
    """`ping` and `mtu` probes, all in parallel."""
    chosen = [p for p in probes if p.kind in ("ping", "mtu")]
    forget_path_mtus(shell, [p.source.node for p in chosen if p.kind == "mtu"], workers)
    return pool_map(lambda probe: run_positive(shell, probe), chosen, workers)


def run_isolations(
    shell: Shell, state: ExpectedState, probes: Sequence[Probe], workers: int
) -> list[ProbeResult]:
    """`isolation` probes, one session per (source interface, foreign subnet), sessions in parallel.

    Run after the positive probes, never with them: a temporary address in a subnet that a positive
    probe's target also holds could steer that target's reply away.
    """
    sessions, impossible = plan_isolation(state, [p for p in probes if p.kind == "isolation"])
    results = pool_map(lambda session: run_isolation(shell, session), sessions, workers)
    return [*impossible, *(result for batch in results for result in batch)]


def prime_endpoints(shell: Shell, endpoints: Sequence[Endpoint], state: ExpectedState, workers: int) -> None:
    """Make endpoints that sent nothing yet send one frame, so their MACs are learned (ARP broadcast).

    Used for MAC checks on leaves when the hosts themselves were not selected for probing.
    """

    def nudge(endpoint: Endpoint) -> None:
        peers = [e for e in state.endpoints_in(endpoint.vni) if e.node != endpoint.node]
        target = peers[0].ip if peers else _free_address(endpoint.network, _reserved_addresses(state))
        if target is not None:
            shell.run(endpoint.node, ping_command(endpoint, target))

    pool_map(nudge, list(endpoints), workers)
