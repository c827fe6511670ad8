"""BGP EVPN for pyvtep through GoBGP (Debian `gobgpd`): advertise local state, install remote state.

pyvtep starts its own `gobgpd` in its network namespace, peers it with the configured neighbours
(l2vpn-evpn + ipv4-unicast) and drives it with the `gobgp` client:

* per VNI a type-3 IMET route (PMSI ingress replication, label = VNI) so peers flood BUM to us;
* per MAC seen on the TAP a type-2 MAC route (label = VNI), withdrawn when the MAC ages out or moves;
* `gobgp monitor global rib -a evpn -j --current` streams every best-path change: remote type-3 routes
  become flood-list entries, remote type-2 routes become MAC entries (kind "evpn").

Slow `gobgp` invocations run in a worker thread; the monitor's output is read by the engine's loop,
so the datapath state is only ever changed from one thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxauto.errors import VxautoError
from vxauto.vtep.config import EvpnConfig, VniConfig, parse_route_target
from vxauto.vtep.datapath import Segment
from vxauto.vtep.fdb import Kind
from vxauto.vtep.packet import mac_bytes, mac_text

if TYPE_CHECKING:
    from vxauto.vtep.engine import Engine

log = logging.getLogger("vxauto.vtep.evpn")

ROUTE_TYPE_MAC = 2
ROUTE_TYPE_IMET = 3
ATTR_MP_REACH = 14
ATTR_EXT_COMMUNITIES = 16
ATTR_PMSI = 22
PR_SET_PDEATHSIG = 1
# GoBGP's session_state numbering (api.PeerState_SessionState).
SESSION_STATES = {0: "unknown", 1: "idle", 2: "connect", 3: "active", 4: "opensent", 5: "openconfirm",
                  6: "established"}
STARTUP_TIMEOUT = 15.0


@dataclass(frozen=True)
class RouteEvent:
    """One EVPN path from GoBGP's JSON, reduced to what the datapath needs."""

    key: str
    route_type: int
    vni: int | None
    remote: str | None
    mac: bytes | None
    route_targets: tuple[str, ...]
    withdrawal: bool


def parse_paths(paths: Any) -> list[RouteEvent]:
    """Reduce one `gobgp ... -j` monitor line (a JSON array of paths) to route events.

    Anything that is not a type-2/type-3 EVPN path (e.g. the ipv4-unicast underlay routes) is skipped.
    """
    events: list[RouteEvent] = []
    if not isinstance(paths, list):
        return events
    for path in paths:
        if not isinstance(path, dict):
            continue
        nlri = path.get("nlri")
        if not isinstance(nlri, dict) or nlri.get("type") not in (ROUTE_TYPE_MAC, ROUTE_TYPE_IMET):
            continue
        value = nlri.get("value") or {}
        attrs = [a for a in path.get("attrs") or [] if isinstance(a, dict)]
        remote = next((a.get("nexthop") for a in attrs if a.get("type") == ATTR_MP_REACH), None)
        rts = tuple(
            str(c.get("value")) for a in attrs if a.get("type") == ATTR_EXT_COMMUNITIES
            for c in a.get("value") or [] if isinstance(c, dict) and c.get("subtype") == 2
        )
        if nlri["type"] == ROUTE_TYPE_MAC:
            labels = value.get("labels") or []
            vni = labels[0] if labels and isinstance(labels[0], int) else None
            try:
                mac = mac_bytes(str(value.get("mac")))
            except ValueError:
                continue
        else:
            pmsi = next((a for a in attrs if a.get("type") == ATTR_PMSI), {})
            vni = pmsi.get("label") if isinstance(pmsi.get("label"), int) else None
            remote = pmsi.get("tunnel-id") or value.get("ip") or remote
            mac = None
        events.append(RouteEvent(
            key=json.dumps(nlri, sort_keys=True), route_type=nlri["type"], vni=vni,
            remote=str(remote) if remote else None, mac=mac, route_targets=rts,
            withdrawal=bool(path.get("withdrawal")),
        ))
    return events


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


def gobgpd_config(config: EvpnConfig, router_id: str) -> str:
    """The TOML file for our gobgpd: one global section and one neighbour per peer."""
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
    return "\n".join(lines)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when pyvtep dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class EvpnAgent:
    """Owns gobgpd, the route monitor and the advertisement bookkeeping for one pyvtep."""

    def __init__(self, engine: Engine, config: EvpnConfig) -> None:
        self.engine = engine
        self.config = config
        self.local_ip = str(engine.config.local_ip)
        self.router_id = str(config.router_id or engine.config.local_ip)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"pyvtep-{engine.config.name}-"))
        self.daemon: subprocess.Popen[bytes] | None = None
        self.monitor: subprocess.Popen[bytes] | None = None
        self.monitor_buffer = b""
        self.commands: queue.Queue[list[str] | None] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="gobgp-commands", daemon=True)
        self.installed: dict[str, RouteEvent] = {}
        self.advertised_macs: dict[tuple[int, bytes], str] = {}
        self.advertised_imet: set[int] = set()
        self.failures = 0
        self._stopping = False
        self._monitor_restarts = 0

    # --- process management ----------------------------------------------------------------------

    def _client(self, *arguments: str) -> list[str]:
        return [self.config.gobgp, "-u", "127.0.0.1", "-p", str(self.config.api_port), *arguments]

    def start(self) -> None:
        config_file = self.workdir / "gobgpd.toml"
        config_file.write_text(gobgpd_config(self.config, self.router_id))
        log_file = (self.workdir / "gobgpd.log").open("ab")
        try:
            self.daemon = subprocess.Popen(
                [self.config.gobgpd, "-f", str(config_file), f"--api-hosts=127.0.0.1:{self.config.api_port}"],
                stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        except OSError as exc:
            raise VxautoError.single("config", "evpn.gobgpd", f"cannot start gobgpd: {exc}",
                                     self.config.gobgpd) from None
        finally:
            log_file.close()
        self._wait_for_api()
        self.worker.start()
        for prefix in self.config.announce:
            self.commands.put(self._client("global", "rib", "-a", "ipv4", "add", str(prefix), "nexthop", "0.0.0.0"))
        for segment in self.engine.datapath.segments.values():
            self.segment_added(segment)
        self._start_monitor()
        log.info("EVPN: gobgpd pid %d, AS %d, neighbours %s", self.daemon.pid, self.config.asn,
                 [str(n.address) for n in self.config.neighbors])

    def _wait_for_api(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        assert self.daemon is not None
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                log_text = (self.workdir / "gobgpd.log").read_text(errors="replace")[-500:]
                raise VxautoError.single("config", "evpn", "gobgpd exited at start", log_text)
            done = subprocess.run(self._client("global"), capture_output=True, timeout=5, check=False)
            if done.returncode == 0:
                return
            time.sleep(0.2)
        raise VxautoError.single("config", "evpn.api_port", "gobgpd API did not come up", self.config.api_port)

    def _start_monitor(self) -> None:
        self.monitor = subprocess.Popen(
            self._client("monitor", "global", "rib", "-a", "evpn", "-j", "--current"),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        assert self.monitor.stdout is not None
        fd = self.monitor.stdout.fileno()
        os.set_blocking(fd, False)
        self.engine.register(fd, lambda _mask: self._read_monitor(), "evpn monitor")

    def _read_monitor(self) -> None:
        assert self.monitor is not None and self.monitor.stdout is not None
        fd = self.monitor.stdout.fileno()
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            self.engine.unregister(fd)
            self.monitor.wait()
            if not self._stopping and self._monitor_restarts < 20:
                self._monitor_restarts += 1
                log.warning("EVPN: route monitor ended; restarting it")
                self._start_monitor()
            return
        self.monitor_buffer += chunk
        *lines, self.monitor_buffer = self.monitor_buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                paths = json.loads(line)
            except ValueError:
                log.warning("EVPN: unreadable monitor line %r", line[:120])
                continue
            for event in parse_paths(paths):
                self.apply(event)

    def _work(self) -> None:
        while True:
            command = self.commands.get()
            if command is None:
                return
            try:
                done = subprocess.run(command, capture_output=True, timeout=10, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                self.failures += 1
                log.warning("EVPN: %s failed: %s", " ".join(command[5:]), exc)
                continue
            if done.returncode != 0:
                self.failures += 1
                log.warning("EVPN: %s failed: %s", " ".join(command[5:]),
                            done.stderr.decode(errors="replace").strip())

    def stop(self) -> None:
        """Stop the monitor and gobgpd (the sessions drop, so peers withdraw our routes)."""
        self._stopping = True
        if self.worker.is_alive():
            self.commands.put(None)
            self.worker.join(timeout=5)
        for process in (self.monitor, self.daemon):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.monitor is not None and self.monitor.stdout is not None:
            self.engine.unregister(self.monitor.stdout.fileno())
            self.monitor.stdout.close()

    # --- what we advertise ---------------------------------------------------------------------

    def _rd(self, vni: int) -> str:
        return f"{self.local_ip}:{vni & 0xFFFF}"

    def _rt(self, segment_config: VniConfig) -> str:
        return segment_config.route_target or f"{self.config.asn}:{segment_config.vni}"

    def _imet(self, action: str, segment_config: VniConfig) -> list[str]:
        vni = segment_config.vni
        arguments = ["global", "rib", "-a", "evpn", action, "multicast", self.local_ip, "etag", "0",
                     "rd", self._rd(vni)]
        if action == "add":
            arguments += ["rt", self._rt(segment_config), "encap", "vxlan", "pmsi", "ingress-repl", str(vni),
                          self.local_ip, "nexthop", self.local_ip]
        return self._client(*arguments)

    def _macadv(self, action: str, segment_config: VniConfig, mac: bytes) -> list[str]:
        vni = segment_config.vni
        arguments = ["global", "rib", "-a", "evpn", action, "macadv", mac_text(mac), "0.0.0.0", "etag", "0",
                     "label", str(vni), "rd", self._rd(vni)]
        if action == "add":
            arguments += ["rt", self._rt(segment_config), "encap", "vxlan", "nexthop", self.local_ip]
        return self._client(*arguments)

    def local_mac(self, segment: Segment, mac: bytes, present: bool) -> None:
        key = (segment.vni, mac)
        if present and key not in self.advertised_macs:
            self.advertised_macs[key] = self._rt(segment.config)
            self.commands.put(self._macadv("add", segment.config, mac))
        elif not present and key in self.advertised_macs:
            del self.advertised_macs[key]
            self.commands.put(self._macadv("del", segment.config, mac))

    def segment_added(self, segment: Segment) -> None:
        self.advertised_imet.add(segment.vni)
        self.commands.put(self._imet("add", segment.config))
        for mac in segment.table.local_macs():
            self.local_mac(segment, mac, True)
        for event in self.installed.values():  # routes that arrived before this VNI existed
            if event.vni == segment.vni:
                self._install(segment, event)

    def segment_removed(self, segment: Segment) -> None:
        self.advertised_imet.discard(segment.vni)
        self.commands.put(self._imet("del", segment.config))
        for key in [k for k in self.advertised_macs if k[0] == segment.vni]:
            del self.advertised_macs[key]
            self.commands.put(self._macadv("del", segment.config, key[1]))

    def segment_changed(self, segment: Segment, old: VniConfig) -> None:
        if self._rt(old) != self._rt(segment.config):
            self.segment_removed(segment)
            self.segment_added(segment)
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
            previous = self.installed.pop(event.key, None)
            if previous is not None:
                self._uninstall(previous)
            return
        previous = self.installed.get(event.key)
        if previous is not None:
            self._uninstall(previous)
        self.installed[event.key] = event
        segment = self.engine.datapath.segments.get(event.vni) if event.vni is not None else None
        if segment is not None:
            self._install(segment, event)

    def _install(self, segment: Segment, event: RouteEvent) -> None:
        if not imports(segment.config, event.route_targets) or event.remote is None:
            return
        if event.route_type == ROUTE_TYPE_IMET:
            segment.flood_evpn.add(event.remote)
            segment.rebuild_flood()
            log.info("EVPN: VNI %d floods to %s", segment.vni, event.remote)
        elif event.mac is not None:
            segment.table.set_evpn(event.mac, event.remote, self.engine.datapath.now)

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
            segment.table.remove(event.mac, Kind.EVPN, event.remote)

    # --- status --------------------------------------------------------------------------------

    def neighbors(self) -> list[dict[str, object]]:
        done = subprocess.run(self._client("neighbor", "-j"), capture_output=True, timeout=5, check=False)
        try:
            peers = json.loads(done.stdout or b"[]")
        except ValueError:
            return []
        rows = []
        for peer in peers if isinstance(peers, list) else []:
            state = peer.get("state") or {}
            conf = peer.get("conf") or {}
            session: Any = state.get("session_state")  # decoded JSON: an int (FSM state) or missing
            rows.append({"address": conf.get("neighbor_address"), "asn": conf.get("peer_asn"),
                         "state": SESSION_STATES.get(session, str(session))})
        return rows

    def status(self) -> dict[str, object]:
        return {
            "asn": self.config.asn,
            "router_id": self.router_id,
            "gobgpd_pid": self.daemon.pid if self.daemon is not None else None,
            "neighbors": self.neighbors(),
            "advertised": {"imet": sorted(self.advertised_imet),
                           "macs": [{"vni": v, "mac": mac_text(m)} for v, m in sorted(self.advertised_macs)]},
            "received": {
                "imet": sorted({(e.vni, e.remote) for e in self.installed.values()
                                if e.route_type == ROUTE_TYPE_IMET}, key=str),
                "macs": [{"vni": e.vni, "mac": mac_text(e.mac), "remote": e.remote}
                         for e in self.installed.values() if e.mac is not None],
            },
            "command_failures": self.failures,
        }
