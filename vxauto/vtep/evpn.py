"""BGP EVPN for pyvtep through GoBGP (Debian `gobgpd`), driven over GoBGP's gRPC API.

pyvtep starts its own `gobgpd` in its network namespace and peers it with the configured neighbours
(l2vpn-evpn + ipv4-unicast):

* per VNI a type-3 IMET route (PMSI ingress replication, label = VNI) so peers flood BUM to us;
* per MAC seen on the TAP a type-2 MAC route (label = VNI), withdrawn when the MAC ages out or moves;
* GoBGP's `WatchEvent` stream (best paths, current table first) feeds remote routes in: type-3 routes
  become flood-list entries, type-2 routes MAC entries (kind "evpn").

Never losing a route: what pyvtep wants advertised is a table (`Advertiser.wanted`); a sender thread
pushes every change to GoBGP with `AddPathStream` (additions and withdrawals in one stream, which GoBGP
acknowledges only after applying all of them) and keeps the change pending until it is acknowledged,
retrying after errors. When gobgpd dies pyvtep starts it again; whenever the API comes back after an
error, everything is advertised again and the remote routes are re-read from scratch.

MAC mobility (RFC 7432 section 15): a MAC that appears locally while other VTEPs advertise it is
advertised with the highest sequence number seen plus one; among routes for one MAC the highest sequence
number wins (on a tie the lowest VTEP address), and a remote winner takes a local MAC away.

Threads: the sender and the watcher talk to gobgpd; remote routes reach the engine's thread through a
queue and a wake-up socket, so the datapath state is only ever changed from one thread.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from vxauto.errors import VxautoError
from vxauto.vtep import gobgp
from vxauto.vtep.config import EvpnConfig, VniConfig, parse_route_target
from vxauto.vtep.datapath import Segment
from vxauto.vtep.fdb import Kind
from vxauto.vtep.gobgp import ROUTE_TYPE_IMET, RouteEvent
from vxauto.vtep.gobgpapi import gobgp_pb2 as api
from vxauto.vtep.gobgpapi import gobgp_pb2_grpc as api_grpc
from vxauto.vtep.packet import mac_text

if TYPE_CHECKING:
    from vxauto.vtep.engine import Engine

log = logging.getLogger("vxauto.vtep.evpn")

# GoBGP's session_state numbering (api.PeerState.SessionState).
SESSION_STATES = {0: "unknown", 1: "idle", 2: "connect", 3: "active", 4: "opensent", 5: "openconfirm",
                  6: "established"}
STARTUP_TIMEOUT = 15.0
# gobgpd 3.10 scans its whole EVPN table for every MAC route added or withdrawn (MAC mobility fix-up in
# BgpServer.fixupApiPath), so a batch of 500 can take seconds on a big table; a timed-out batch is sent
# again (adding a path twice is harmless).
RPC_TIMEOUT = 60.0
BATCH = 500  # paths per AddPathStream call: GoBGP applies each request as one management operation
REFUSED_RETRY = 1.0
TRANSPORT_ERRORS = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                              grpc.StatusCode.CANCELLED, grpc.StatusCode.RESOURCE_EXHAUSTED})
RETRY_MAX = 2.0  # seconds between attempts while gobgpd is unreachable
RESET = None  # queued to the engine thread: gobgpd came back empty, forget every remote route


def imports(segment_config: VniConfig, route_targets: tuple[str, ...]) -> bool:
    """Does a route with these RTs belong to this VNI?

    An explicit `route_target` must be carried; otherwise any RT whose local part is the VNI matches
    (auto RTs are ASN:VNI and differ per ASN across eBGP, so the ASN is not compared).
    """
    if segment_config.route_target is not None:
        return segment_config.route_target in route_targets
    for rt in route_targets:
        with contextlib.suppress(ValueError):
            if parse_route_target(rt)[1] == segment_config.vni:
                return True
    return False


MAC_SPEAKER_NET = "127.0.1."  # MAC speaker i talks to the front speaker from 127.0.1.<i> (loopback)
FRONT_POLICY = "pyvtep-front"


def gobgpd_config(config: EvpnConfig, router_id: str, local_ip: str = "") -> str:
    """The TOML file for our (front) gobgpd: one global section and one neighbour per peer.

    With `mac_speakers`, the MAC speakers are iBGP neighbours on loopback addresses, and an export policy
    sends them nothing (their tables stay small) and gives their EVPN routes our VTEP address as next hop
    towards eBGP peers (GoBGP would put its own session address there for routes it did not originate).
    """
    lines = ["[global.config]", f"  as = {config.asn}", f'  router-id = "{router_id}"',
             f"  port = {config.bgp_port}", ""]
    for neighbor in config.neighbors:
        lines += [
            "[[neighbors]]", "  [neighbors.config]", f'    neighbor-address = "{neighbor.address}"',
            f"    peer-as = {neighbor.asn}",
        ]
        for family in ("l2vpn-evpn", "ipv4-unicast"):
            lines += ["  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]",
                      f'      afi-safi-name = "{family}"']
        lines.append("")
    if not config.mac_speakers:
        return "\n".join(lines)
    speakers = [f"{MAC_SPEAKER_NET}{index}" for index in range(1, config.mac_speakers + 1)]
    for address in speakers:
        lines += ["[[neighbors]]", "  [neighbors.config]", f'    neighbor-address = "{address}"',
                  f"    peer-as = {config.asn}", "  [neighbors.transport.config]", "    passive-mode = true",
                  "  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]",
                  '      afi-safi-name = "l2vpn-evpn"', ""]
    lines += [
        "[[defined-sets.neighbor-sets]]", '  neighbor-set-name = "pyvtep-mac-speakers"',
        f"  neighbor-info-list = [{', '.join(f'{chr(34)}{a}/32{chr(34)}' for a in speakers)}]", "",
        "[[policy-definitions]]", f'  name = "{FRONT_POLICY}"',
        # In an export policy the neighbour condition matches the peer the route goes to.
        "  [[policy-definitions.statements]]", '    name = "nothing-to-mac-speakers"',
        "    [policy-definitions.statements.conditions.match-neighbor-set]",
        '      neighbor-set = "pyvtep-mac-speakers"', "    [policy-definitions.statements.actions]",
        '      route-disposition = "reject-route"',
        # Export policies run after GoBGP's own eBGP rewrites: an AS path of length 1 is a route of ours
        # (front or MAC speaker); FRR-learned routes have at least two ASNs by then.
        "  [[policy-definitions.statements]]", '    name = "our-evpn-routes-next-hop-is-the-vtep"',
        "    [policy-definitions.statements.conditions.bgp-conditions]", '      afi-safi-in-list = ["l2vpn-evpn"]',
        "    [policy-definitions.statements.conditions.bgp-conditions.as-path-length]",
        '      operator = "eq"', "      value = 1",
        "    [policy-definitions.statements.actions.bgp-actions]", f'      set-next-hop = "{local_ip}"', "",
        "[global.apply-policy.config]", f'  export-policy-list = ["{FRONT_POLICY}"]',
        '  default-export-policy = "accept-route"', "",
    ]
    return "\n".join(lines)


def mac_speaker_index(vni: int, mac: bytes, speakers: int) -> int:
    """Which of `speakers` MAC speakers (0-based) carries (VNI, MAC): a stable hash, the same across restarts."""
    return zlib.crc32(vni.to_bytes(4, "big") + mac) % speakers


def mac_speaker_config(config: EvpnConfig, index: int) -> str:
    """A MAC speaker: no listening port, one iBGP session to the front speaker over loopback."""
    address = f"{MAC_SPEAKER_NET}{index}"
    return "\n".join([
        "[global.config]", f"  as = {config.asn}", f'  router-id = "{address}"', "  port = -1", "",
        "[[neighbors]]", "  [neighbors.config]", '    neighbor-address = "127.0.0.1"', f"    peer-as = {config.asn}",
        "  [neighbors.transport.config]", f'    local-address = "{address}"', f"    remote-port = {config.bgp_port}",
        "  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]", '      afi-safi-name = "l2vpn-evpn"', "",
    ])


def beats(sequence: int, vtep: str, other_sequence: int, other_vtep: str) -> bool:
    """RFC 7432 section 15.1: higher sequence number wins; on a tie the lower VTEP address."""
    if sequence != other_sequence:
        return sequence > other_sequence
    mine, other = ipaddress.ip_address(vtep), ipaddress.ip_address(other_vtep)
    return (mine.version, mine.packed) < (other.version, other.packed)


class Gobgpd:
    """The gobgpd process pyvtep owns: started, restarted when it dies, stopped with pyvtep."""

    def __init__(self, config: EvpnConfig, toml: str, workdir: Path, api_port: int, name: str = "gobgpd") -> None:
        self.config = config
        self.api_port = api_port
        self.config_file = workdir / f"{name}.toml"
        self.config_file.write_text(toml)
        self.log_file = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def argv(self) -> list[str]:
        argv = [self.config.gobgpd, "-f", str(self.config_file), f"--api-hosts=127.0.0.1:{self.api_port}"]
        # gobgpd gets SIGTERM when the thread that started it ends, also when pyvtep is SIGKILLed;
        # setpriv sets that up without running Python code between fork and exec (gRPC has threads).
        setpriv = shutil.which("setpriv")
        return [setpriv, "--pdeathsig", "TERM", *argv] if setpriv else argv

    def start(self) -> None:
        with self.log_file.open("ab") as log_file:
            try:
                self.process = subprocess.Popen(self.argv(), stdout=log_file, stderr=subprocess.STDOUT)
            except OSError as exc:
                raise VxautoError.single("config", "evpn.gobgpd", f"cannot start gobgpd: {exc}",
                                         self.config.gobgpd) from None
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-500:] if self.log_file.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Advertiser:
    """What pyvtep wants in GoBGP's table, and a thread that gets it there, acknowledged.

    `wanted` and `dirty` are changed by the engine's thread under `lock`; the sender thread takes dirty
    keys, pushes the difference to what GoBGP has acknowledged (`acked`) and puts them back on failure.
    A route GoBGP refuses (e.g. a MAC mobility sequence number below one it has just received) waits
    `REFUSED_RETRY` seconds and is tried again alone, so it never holds up the others.
    """

    def __init__(self, speaker: Speaker, *, resync_on_restart: bool = False) -> None:
        self.speaker = speaker
        # The front speaker's watcher notices its restarts; a MAC speaker has no watcher, so its
        # advertiser re-sends everything itself when its gobgpd had to be started again.
        self.resync_on_restart = resync_on_restart
        self.lock = threading.Condition()
        self.wanted: dict[str, api.Path] = {}
        self.acked: dict[str, api.Path] = {}
        self.dirty: set[str] = set()
        self.refused: dict[str, float] = {}  # key -> when to try again
        self.in_flight = 0
        self.pushes = 0
        self.failures = 0
        self.resyncs = 0
        self.last_error = ""
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"gobgp-sender-{speaker.name}", daemon=True)

    def want(self, key: str, path: api.Path | None) -> None:
        with self.lock:
            if path is None:
                if self.wanted.pop(key, None) is None and key not in self.acked:
                    return
            else:
                self.wanted[key] = path
            self.refused.pop(key, None)
            self.dirty.add(key)
            self.lock.notify()

    def resync(self) -> None:
        """gobgpd lost its table (restart): everything we want is pending again."""
        with self.lock:
            self.acked.clear()
            self.dirty = set(self.wanted)
            self.refused.clear()
            self.resyncs += 1
            self.lock.notify()

    def pending(self) -> int:
        with self.lock:
            return len(self.dirty) + len(self.refused) + self.in_flight

    def _take(self) -> list[tuple[str, api.Path | None]]:
        with self.lock:
            while not self.stopping:
                now = time.monotonic()
                due = [key for key, when in self.refused.items() if when <= now]
                for key in due:
                    del self.refused[key]
                    self.dirty.add(key)
                if self.dirty:
                    break
                self.lock.wait(min(self.refused.values(), default=now + 60) - now)
            keys = [self.dirty.pop() for _ in range(min(BATCH, len(self.dirty)))]
            batch = [(key, self.wanted.get(key)) for key in keys]
            self.in_flight = len(batch)
            return batch

    def _change(self, key: str, path: api.Path | None) -> api.Path | None:
        """The path to send for `key`: the wanted one, a withdrawal of the acknowledged one, or None."""
        if path is not None:
            return path if self.acked.get(key) != path else None
        if key in self.acked:
            withdrawal = api.Path()
            withdrawal.CopyFrom(self.acked[key])
            withdrawal.is_withdraw = True
            return withdrawal
        return None

    def _push(self, batch: list[tuple[str, api.Path | None]]) -> list[tuple[str, api.Path | None]]:
        """Send `batch`; returns the entries GoBGP acknowledged. Raises on transport errors."""
        changes = [(key, path, change) for key, path in batch if (change := self._change(key, path)) is not None]
        if not changes:
            return batch
        session = self.speaker.session()
        try:
            session.push([change for _, _, change in changes])
            self.pushes += 1
            return batch
        except grpc.RpcError as exc:
            if exc.code() in TRANSPORT_ERRORS:
                raise
            refused = exc
        # GoBGP refused something in the stream: find out what, one path at a time.
        done = [(key, path) for key, path in batch if all(key != k for k, _, _ in changes)]
        for key, path, change in changes:
            try:
                session.push([change])
                done.append((key, path))
            except grpc.RpcError as exc:
                if exc.code() in TRANSPORT_ERRORS:
                    raise
                with self.lock:
                    self.failures += 1
                    self.last_error = f"{key}: {exc.details()}"
                    if key not in self.refused:
                        log.warning("EVPN: GoBGP refused %s (%s); trying again in %.0f s", key, exc.details(),
                                    REFUSED_RETRY)
                    self.refused[key] = time.monotonic() + REFUSED_RETRY
        log.debug("EVPN: stream refused (%s); sent one by one", refused.details())
        return done

    def _run(self) -> None:
        while True:
            batch = self._take()
            if self.stopping:
                return
            starts = self.speaker.gobgpd.starts
            try:
                done = self._push(batch)
            except grpc.RpcError as exc:
                with self.lock:
                    self.failures += 1
                    self.last_error = f"{exc.code().name}: {exc.details()}"
                    self.dirty.update(key for key, _ in batch)
                    self.in_flight = 0
                log.warning("EVPN: GoBGP (%s) did not take %d route changes (%s); retrying", self.speaker.name,
                            len(batch), self.last_error)
                self.speaker.recover()
                if self.resync_on_restart and self.speaker.gobgpd.starts != starts:
                    self.resync()
                continue
            with self.lock:
                for key, path in done:
                    if path is not None:
                        self.acked[key] = path
                    else:
                        self.acked.pop(key, None)
                self.in_flight = 0

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.lock.notify()
        if self.thread.is_alive():
            self.thread.join(timeout=5)


class Speaker:
    """One gobgpd pyvtep owns and its gRPC session: started, watched for death, started again."""

    def __init__(self, gobgpd: Gobgpd, name: str, stopping: threading.Event) -> None:
        self.gobgpd = gobgpd
        self.name = name
        self._stopping = stopping
        self._session: Session | None = None
        self._session_lock = threading.Lock()
        self.restarts = 0

    def session(self) -> Session:
        with self._session_lock:
            if self._session is None:
                self._session = Session(self.gobgpd.api_port)
            return self._session

    def wait_for_api(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if not self.gobgpd.alive():
                raise VxautoError.single("config", "evpn", f"gobgpd ({self.name}) exited at start",
                                         self.gobgpd.log_tail())
            if self.session().ready():
                return
            time.sleep(0.2)
        raise VxautoError.single("config", "evpn.api_port", f"gobgpd ({self.name}) API did not come up",
                                 self.gobgpd.api_port)

    def recover(self) -> None:
        """After an RPC error: wait until gobgpd answers again, starting it when it died.

        Called from several threads; one does the work, the others wait for it. The channel is kept: gRPC
        reconnects by itself, and closing it would break another thread's call for nothing.
        """
        with self._session_lock:
            delay = 0.1
            while not self._stopping.is_set():
                if not self.gobgpd.alive():
                    tail = self.gobgpd.log_tail().strip().splitlines()
                    log.warning("EVPN: gobgpd (%s) exited (last log line: %s); starting it again", self.name,
                                tail[-1:] or "none")
                    self.gobgpd.start()
                    self.restarts += 1
                if self._session is not None and self._session.ready():
                    return
                self._stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX)

    def close(self) -> None:
        with self._session_lock:
            if self._session is not None:
                self._session.close()


class Session:
    """One gRPC channel to gobgpd (it reconnects by itself, also to a restarted gobgpd)."""

    def __init__(self, port: int) -> None:
        # The first WatchEvent reply holds the whole table: 10,000 MAC routes are about 7 MB.
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
        self.stub = api_grpc.GobgpApiStub(self.channel)

    def ready(self, timeout: float = 5.0) -> bool:
        try:
            self.stub.GetBgp(api.GetBgpRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
        return True

    def push(self, paths: list[api.Path]) -> None:
        """Add or withdraw `paths`; returns once GoBGP has applied all of them, raises otherwise."""
        self.stub.AddPathStream(iter([api.AddPathStreamRequest(table_type=api.TableType.GLOBAL, paths=paths)]),
                                timeout=RPC_TIMEOUT)

    def watch(self) -> Any:
        request = api.WatchEventRequest(peer=api.WatchEventRequest.Peer(), table=api.WatchEventRequest.Table(filters=[
            api.WatchEventRequest.Table.Filter(type=api.WatchEventRequest.Table.Filter.BEST, init=True)]))
        return self.stub.WatchEvent(request)

    def peers(self) -> list[api.Peer]:
        return [reply.peer for reply in self.stub.ListPeer(api.ListPeerRequest(), timeout=5)]

    def close(self) -> None:
        self.channel.close()


class EvpnAgent:
    """Owns gobgpd (and the MAC speakers), the advertisers, the route watcher and MAC mobility for one pyvtep.

    The front gobgpd peers with the configured neighbours, carries the type-3 and underlay routes and
    streams remote routes to us. With `mac_speakers: N`, N more gobgpd processes carry the type-2 routes,
    each MAC on one of them (hash of VNI and MAC), and hand them to the front over iBGP on loopback.
    Why: gobgpd 3.10 visits its whole EVPN table for every MAC route it takes in through its API, additions
    and withdrawals (BgpServer.fixupApiPath); over BGP it does so for additions only
    (TableManager.handleMacMobility). With MAC speakers the API calls run over 1/N of the table each, in N
    processes, and withdrawals reach the front unscanned; additions still cost the front one scan each
    (docs/pyvtep.md, "MAC churn and gobgpd 3.10", has the figures).
    """

    def __init__(self, engine: Engine, config: EvpnConfig) -> None:
        self.engine = engine
        self.config = config
        self.local_ip = str(engine.config.local_ip)
        self.router_id = str(config.router_id or engine.config.local_ip)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"pyvtep-{engine.config.name}-"))
        self._stopping = threading.Event()
        self.front = Speaker(Gobgpd(config, gobgpd_config(config, self.router_id, self.local_ip), self.workdir,
                                    config.api_port), "front", self._stopping)
        self.gobgpd = self.front.gobgpd
        self.advertiser = Advertiser(self.front)
        self.mac_speakers = [
            Speaker(Gobgpd(config, mac_speaker_config(config, index), self.workdir, config.api_port + index,
                           f"gobgpd-mac{index}"), f"mac{index}", self._stopping)
            for index in range(1, config.mac_speakers + 1)]
        self.mac_advertisers = [Advertiser(speaker, resync_on_restart=True) for speaker in self.mac_speakers]
        self.events: queue.Queue[RouteEvent | None] = queue.Queue()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.watcher = threading.Thread(target=self._watch, name="gobgp-watch", daemon=True)
        self.installed: dict[str, RouteEvent] = {}
        self.by_mac: dict[tuple[int | None, bytes], set[str]] = {}  # installed type-2 keys per (VNI, MAC)
        self.rd_index: dict[int, int] = {}
        self.local_sequence: dict[tuple[int, bytes], int] = {}
        #: The last sequence number advertised per (VNI, MAC), kept after the route is withdrawn.
        self.last_sequence: dict[tuple[int, bytes], int] = {}
        self.mac_moves = 0
        self.peer_states: dict[str, dict[str, object]] = {}  # written by the watcher thread

    @property
    def advertisers(self) -> list[Advertiser]:
        return [self.advertiser, *self.mac_advertisers]

    @property
    def restarts(self) -> int:
        return sum(speaker.restarts for speaker in (self.front, *self.mac_speakers))

    # --- gobgpd and the gRPC session -----------------------------------------------------------

    def start(self) -> None:
        for speaker in (self.front, *self.mac_speakers):
            speaker.gobgpd.start()
        for speaker in (self.front, *self.mac_speakers):
            speaker.wait_for_api()
        self.engine.register(self._wake_reader.fileno(), lambda _mask: self._drain(), "evpn routes")
        self.rd_index = gobgp.assign_rd_indexes(self.engine.datapath.segments, {})
        for prefix in self.config.announce:
            self.advertiser.want(f"prefix|{prefix}", gobgp.prefix_path(str(prefix), "0.0.0.0"))
        for segment in self.engine.datapath.segments.values():
            self.segment_added(segment)
        for advertiser in self.advertisers:
            advertiser.thread.start()
        self.watcher.start()
        log.info("EVPN: gobgpd pid %s, AS %d, neighbours %s, %d MAC speakers",
                 self.gobgpd.process and self.gobgpd.process.pid, self.config.asn,
                 [str(n.address) for n in self.config.neighbors], len(self.mac_speakers))

    def session(self) -> Session:
        return self.front.session()

    def recover(self) -> None:
        self.front.recover()

    def _watch(self) -> None:
        """Stream best-path changes to the engine thread; after a broken stream, start over."""
        while not self._stopping.is_set():
            starts = self.gobgpd.starts
            lost = False
            try:
                stream = self.session().watch()
                for peer in self.session().peers():  # state changes come with the stream from now on
                    self._peer_seen(peer)
                for reply in stream:
                    if reply.HasField("peer"):
                        self._peer_seen(reply.peer.peer)
                    elif reply.HasField("table"):
                        for path in reply.table.paths:
                            event = gobgp.route_event(path)
                            if event is not None:
                                self.events.put(event)
                        self._wake()
            except grpc.RpcError as exc:
                if self._stopping.is_set():
                    return
                log.warning("EVPN: GoBGP route stream ended (%s); re-reading routes", exc.code().name)
                lost = exc.code() == grpc.StatusCode.UNAVAILABLE
            if self._stopping.is_set():
                return
            self.recover()
            # Remote routes may have changed unseen: forget them and take the table from the new stream's
            # initial dump. A new gobgpd (or a lost connection: it may have been restarted) also lost what
            # we advertised: advertise everything again.
            self.events.put(RESET)
            self._wake()
            if lost or self.gobgpd.starts != starts:
                self.advertiser.resync()

    def _peer_seen(self, peer: api.Peer) -> None:
        address = peer.conf.neighbor_address or peer.state.neighbor_address
        if address in ("", "<nil>"):  # the END_OF_INIT marker carries an empty peer
            return
        state = int(peer.state.session_state)
        self.peer_states[address] = {
            "address": address,
            "asn": peer.conf.peer_asn or peer.state.peer_asn, "state": SESSION_STATES.get(state, str(state))}

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_writer.send(b"!")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(4096):
                pass
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            try:
                if event is RESET:
                    for key in list(self.installed):
                        self._forget(key)
                else:
                    self.apply(event)
            except Exception:  # one odd route must not hold up the ones queued behind it
                self.engine.datapath.counters.internal_errors += 1
                log.exception("EVPN: cannot apply %s", event)

    def stop(self) -> None:
        """Stop the threads and gobgpd (the sessions drop, so peers withdraw our routes)."""
        self._stopping.set()
        for advertiser in self.advertisers:
            advertiser.stop()
        for speaker in (self.front, *self.mac_speakers):
            speaker.gobgpd.stop()
            speaker.close()
        self.watcher.join(timeout=5)
        self.engine.unregister(self._wake_reader.fileno())
        self._wake_reader.close()
        self._wake_writer.close()
        shutil.rmtree(self.workdir, ignore_errors=True)  # gobgpd's config and log: nothing outlives pyvtep

    # --- what we advertise ---------------------------------------------------------------------

    def _rt(self, segment_config: VniConfig) -> str:
        return segment_config.route_target or f"{self.config.asn}:{segment_config.vni}"

    def _imet_key(self, vni: int) -> str:
        return f"imet|{vni}"

    def _mac_key(self, vni: int, mac: bytes) -> str:
        return f"mac|{vni}|{mac.hex()}"

    def _mac_advertiser(self, vni: int, mac: bytes) -> Advertiser:
        """Where (VNI, MAC)'s type-2 route goes: always the same speaker, so a move replaces the route there."""
        if not self.mac_advertisers:
            return self.advertiser
        return self.mac_advertisers[mac_speaker_index(vni, mac, len(self.mac_advertisers))]

    def _advertise_mac(self, segment: Segment, mac: bytes) -> None:
        sequence = self.local_sequence[(segment.vni, mac)]
        self._mac_advertiser(segment.vni, mac).want(self._mac_key(segment.vni, mac), gobgp.mac_path(
            self.router_id, self.rd_index[segment.vni], self.local_ip, segment.vni, self._rt(segment.config),
            mac_text(mac), sequence))

    def _remote_routes(self, vni: int, mac: bytes) -> list[RouteEvent]:
        segment = self.engine.datapath.segments.get(vni)
        if segment is None:
            return []
        routes = (self.installed[key] for key in self.by_mac.get((vni, mac), ()))
        return [e for e in routes if e.remote and imports(segment.config, e.route_targets)]

    def local_mac(self, segment: Segment, mac: bytes, present: bool) -> None:
        """The datapath saw `mac` appear on (or leave) the TAP: advertise or withdraw its type-2 route."""
        key = (segment.vni, mac)
        if not present:
            if self.local_sequence.pop(key, None) is not None:
                self._mac_advertiser(segment.vni, mac).want(self._mac_key(segment.vni, mac), None)
            return
        if key in self.local_sequence:
            return
        remote = self._remote_routes(segment.vni, mac)
        # RFC 7432 section 15.1: a MAC that other VTEPs advertise has moved here; outbid all of them. Never
        # below what we advertised for it before: our own route may still be in GoBGP (its withdrawal not
        # sent yet), and GoBGP refuses a sequence number below the one it holds.
        sequence = max(max((e.sequence for e in remote), default=-1) + 1, self.last_sequence.get(key, 0))
        self.local_sequence[key] = self.last_sequence[key] = sequence
        if remote:
            self.mac_moves += 1
            log.info("EVPN: %s (VNI %d) moved here from %s: sequence %d", mac_text(mac), segment.vni,
                     ", ".join(sorted({str(e.remote) for e in remote})), sequence)
        self._advertise_mac(segment, mac)

    def segment_added(self, segment: Segment) -> None:
        self.rd_index = gobgp.assign_rd_indexes(self.engine.datapath.segments, self.rd_index)
        self.advertiser.want(self._imet_key(segment.vni), gobgp.imet_path(
            self.router_id, self.rd_index[segment.vni], self.local_ip, segment.vni, self._rt(segment.config)))
        for mac in segment.table.local_macs():
            self.local_mac(segment, mac, True)
        for event in self.installed.values():  # routes that arrived before this VNI existed
            if event.vni == segment.vni:
                self._install(segment, event)

    def segment_removed(self, segment: Segment) -> None:
        self.advertiser.want(self._imet_key(segment.vni), None)
        for key in [k for k in self.last_sequence if k[0] == segment.vni]:
            del self.last_sequence[key]
        for key in [k for k in self.local_sequence if k[0] == segment.vni]:
            del self.local_sequence[key]
            self._mac_advertiser(*key).want(self._mac_key(*key), None)
        self.rd_index.pop(segment.vni, None)

    def segment_changed(self, segment: Segment, old: VniConfig) -> None:
        if self._rt(old) != self._rt(segment.config):
            macs = segment.table.local_macs()
            self.segment_removed(segment)
            self.segment_added(segment)
            for mac in macs:
                self.local_mac(segment, mac, True)
        segment.flood_evpn = {e.remote for e in self.installed.values()
                              if e.route_type == ROUTE_TYPE_IMET and e.vni == segment.vni and e.remote
                              and imports(segment.config, e.route_targets)}
        segment.rebuild_flood()

    # --- what we receive ---------------------------------------------------------------------

    def apply(self, event: RouteEvent) -> None:
        """Install or remove one remote route; our own routes (next hop = local_ip) are ignored."""
        if event.remote == self.local_ip or event.remote is None:
            return
        if event.withdrawal:
            self._forget(event.key)
            return
        previous = self.installed.get(event.key)
        if previous is not None and previous.mac is not None:
            self.by_mac[(previous.vni, previous.mac)].discard(event.key)
        self.installed[event.key] = event
        if event.mac is not None:
            self.by_mac.setdefault((event.vni, event.mac), set()).add(event.key)
        if previous is not None and previous.route_type == ROUTE_TYPE_IMET:
            self._uninstall(previous)
        segment = self.engine.datapath.segments.get(event.vni) if event.vni is not None else None
        if segment is not None:
            self._install(segment, event)
        if previous is not None and previous.mac is not None and previous.vni != event.vni:
            self._resolve_mac(previous.vni, previous.mac)

    def _forget(self, key: str) -> None:
        previous = self.installed.pop(key, None)
        if previous is None:
            return
        if previous.mac is not None:
            keys = self.by_mac[(previous.vni, previous.mac)]
            keys.discard(key)
            if not keys:
                del self.by_mac[(previous.vni, previous.mac)]
        self._uninstall(previous)

    def _install(self, segment: Segment, event: RouteEvent) -> None:
        if not imports(segment.config, event.route_targets) or event.remote is None:
            return
        if event.route_type == ROUTE_TYPE_IMET:
            segment.flood_evpn.add(event.remote)
            segment.rebuild_flood()
            log.info("EVPN: VNI %d floods to %s", segment.vni, event.remote)
        elif event.mac is not None:
            if event.ip is not None:
                address = ipaddress.ip_address(event.ip)  # for ARP (IPv4) or ND (IPv6) suppression
                neighbours = segment.arp if address.version == 4 else segment.nd
                neighbours[address.packed] = event.mac
            self._resolve_mac(segment.vni, event.mac)

    def _uninstall(self, event: RouteEvent) -> None:
        segment = self.engine.datapath.segments.get(event.vni) if event.vni is not None else None
        if segment is None or event.remote is None:
            return
        if event.route_type == ROUTE_TYPE_IMET:
            still = any(e.remote == event.remote and e.vni == event.vni and e.route_type == ROUTE_TYPE_IMET
                        for e in self.installed.values())
            if not still:
                segment.flood_evpn.discard(event.remote)
                segment.rebuild_flood()
        elif event.mac is not None:
            if event.ip is not None:
                address = ipaddress.ip_address(event.ip)
                neighbours = segment.arp if address.version == 4 else segment.nd
                if neighbours.get(address.packed) == event.mac and not any(
                        e.ip == event.ip for e in self._remote_routes(segment.vni, event.mac)):
                    del neighbours[address.packed]
            self._resolve_mac(segment.vni, event.mac)

    def _resolve_mac(self, vni: int | None, mac: bytes) -> None:
        """Point the MAC table at the winning route for `mac` (RFC 7432 section 15.1)."""
        segment = self.engine.datapath.segments.get(vni) if vni is not None else None
        if segment is None or vni is None:
            return
        table = segment.table
        routes = self._remote_routes(vni, mac)
        best: RouteEvent | None = None
        for route in routes:
            assert route.remote is not None
            if best is None or beats(route.sequence, route.remote, best.sequence, str(best.remote)):
                best = route
        local = self.local_sequence.get((vni, mac))
        if best is None or (local is not None and beats(local, self.local_ip, best.sequence, str(best.remote))):
            entry = table.lookup(mac)
            if entry is not None and entry.kind == Kind.EVPN:
                table.remove(mac, Kind.EVPN)
            return
        assert best.remote is not None
        entry = table.lookup(mac)
        if entry is None or entry.kind != Kind.EVPN or entry.remote != best.remote:
            if entry is not None and entry.kind == Kind.LOCAL:
                log.info("EVPN: %s (VNI %d) moved to %s: its sequence %d beats ours, %s", mac_text(mac), vni,
                         best.remote, best.sequence, local)
            table.set_evpn(mac, best.remote, self.engine.datapath.now)  # a LOCAL entry moves away here

    # --- status --------------------------------------------------------------------------------

    def neighbors(self) -> list[dict[str, object]]:
        """From the watcher's cache: asking gobgpd here could block the datapath for seconds while it
        applies a big batch (its API serialises management operations)."""
        return [dict(row) for _, row in sorted(self.peer_states.copy().items())]

    def status(self) -> dict[str, object]:
        acked: list[str] = []
        pending = 0
        for advertiser in self.advertisers:
            with advertiser.lock:
                acked += advertiser.acked
                pending += len(advertiser.dirty) + advertiser.in_flight
        macs = sorted(self.local_sequence.items())
        received: dict[str, Any] = {
            "imet": sorted({(e.vni, e.remote) for e in self.installed.values()
                            if e.route_type == ROUTE_TYPE_IMET}, key=str),
            "macs": [{"vni": e.vni, "mac": mac_text(e.mac), "remote": e.remote, "sequence": e.sequence}
                     for e in self.installed.values() if e.mac is not None],
            # What ARP and ND suppression answer from (IPv4 and IPv6 addresses of MAC+IP routes).
            "neighbours": [{"vni": seg.vni, "ip": str(ipaddress.ip_address(packed)), "mac": mac_text(mac)}
                           for seg in sorted(self.engine.datapath.segments.values(), key=lambda s: s.vni)
                           for packed, mac in (*seg.arp.items(), *seg.nd.items())],
        }
        return {
            "asn": self.config.asn,
            "router_id": self.router_id,
            "gobgpd_pid": self.gobgpd.process.pid if self.gobgpd.process is not None else None,
            "gobgpd_restarts": self.restarts,
            "neighbors": self.neighbors(),
            "route_distinguishers": {str(vni): f"{self.router_id}:{index}" for vni, index in
                                     sorted(self.rd_index.items())},
            "advertised": {"imet": sorted(self.rd_index),
                           "macs": [{"vni": v, "mac": mac_text(m), "sequence": s} for (v, m), s in macs]},
            "acknowledged": len(acked),
            "pending": pending,
            "mac_speakers": [{"name": speaker.name, "gobgpd_pid": speaker.gobgpd.process and
                              speaker.gobgpd.process.pid, "acknowledged": len(advertiser.acked)}
                             for speaker, advertiser in zip(self.mac_speakers, self.mac_advertisers, strict=True)],
            "pushes": sum(a.pushes for a in self.advertisers),
            "resyncs": sum(a.resyncs for a in self.advertisers),
            "command_failures": sum(a.failures for a in self.advertisers),
            "last_error": next((a.last_error for a in self.advertisers if a.last_error), None),
            "mac_moves": self.mac_moves,
            "received": received,
        }
