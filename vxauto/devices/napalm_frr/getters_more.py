"""The NAPALM getters and commands a Linux/FRR box can answer beyond facts/interfaces/BGP/LLDP/MAC table.

`LinuxFrrGetters` is a mixin of `FrrDriver`: each method runs its commands over the driver's one SSH
session (`self._ssh()`, one round trip per getter where it can) and hands the outputs to the pure
functions in `parse_more.py`. FRR questions go through `self._frr_probe`, so a plain Linux host without
FRR answers the kernel's part and nothing else. Signatures are NAPALM's own (NetworkDriver), defaults
included: NAPALM's `test_method_signatures` compares them.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from typing import TYPE_CHECKING, Any

from napalm.base import constants as c
from napalm.base import models
from napalm.base.exceptions import CommandErrorException

from vxauto.devices.napalm_frr import parse_more as parse
from vxauto.devices.napalm_frr.parse_core import decode

if TYPE_CHECKING:
    from vxauto.devices.napalm_frr.remote import Completed, Session

#: Where NTP clients keep their servers (chrony on Debian and on RHEL, ntpd/ntpsec, systemd-timesyncd). A
#: driver attribute `ntp_config_files` replaces the list (tests/napalm_frr/record.py points it at a lab node's
#: own file, since lab nodes share the machine's /etc).
NTP_CONFIG_FILES = ("/etc/chrony/chrony.conf", "/etc/chrony.conf", "/etc/ntp.conf", "/etc/ntpsec/ntp.conf",
                    "/etc/systemd/timesyncd.conf")
#: Thermal zones as `zone type millidegrees critical-trip-millidegrees` lines (nothing where there are none).
THERMAL = ("for z in /sys/class/thermal/thermal_zone*; do [ -r \"$z/temp\" ] || continue; "
           "crit=$(grep -l critical \"$z\"/trip_point_*_type 2>/dev/null | head -n 1); "
           "printf '%s %s %s %s\\n' \"${z##*/}\" \"$(cat \"$z/type\")\" \"$(cat \"$z/temp\")\" "
           "\"$([ -n \"$crit\" ] && cat \"${crit%_type}_temp\")\"; done; true")
#: Each login user's authorized keys, one `== USER` header per user (read in the same round trip as passwd).
AUTHORIZED_KEYS = ("while IFS=: read -r u _ _ _ _ h _; do [ -r \"$h/.ssh/authorized_keys\" ] && "
                   "printf '== %s\\n' \"$u\" && cat \"$h/.ssh/authorized_keys\"; done < /etc/passwd; true")


class LinuxFrrGetters:
    """NAPALM getters read from `ip -j`, `vtysh ... json`, `lldpctl -f json` and plain files."""

    #: NAPALM's platform name of the driver (its own drivers set `self.platform`; the suite reads it).
    platform = "frr"

    if TYPE_CHECKING:
        hostname: str
        lldpd_socket: str | None
        ntp_config_files: tuple[str, ...]

        def _ssh(self) -> Session: ...
        def _frr_probe(self, *commands: str) -> str: ...
        def _frr_answer(self, result: Completed) -> str | None: ...

    def _ntp_files(self) -> tuple[str, ...]:
        return getattr(self, "ntp_config_files", None) or NTP_CONFIG_FILES

    def _decoded(self, result: Completed, what: str) -> Any:
        return decode(result.checked(self.hostname).stdout, f"{self.hostname} {what}")

    def _frr_json(self, command: str) -> Any:
        answer = self._frr_answer(self._ssh().run(self._frr_probe(command)))
        return decode(answer or "", f"{self.hostname} `{command}`")

    # ------------------------------------------------------------------ kernel tables

    def get_arp_table(self, vrf: str = "") -> list[models.ARPTableDict]:
        scope = f" vrf {shlex.quote(vrf)}" if vrf else ""
        return parse.arp_table(self._decoded(self._ssh().run(f"ip -j -s -4 neigh show{scope}"), "ARP table") or [])

    def get_ipv6_neighbors_table(self) -> list[models.IPV6NeighborDict]:
        return parse.ipv6_neighbors(self._decoded(self._ssh().run("ip -j -s -6 neigh show"), "IPv6 neighbours") or [])

    def get_environment(self) -> models.EnvironmentDict:
        results = self._ssh().batch({"stat": "cat /proc/stat", "meminfo": "cat /proc/meminfo", "thermal": THERMAL})
        return parse.environment(results["stat"].checked(self.hostname).stdout,
                                 results["meminfo"].checked(self.hostname).stdout, results["thermal"].stdout)

    def get_interfaces_counters(self) -> dict[str, models.InterfaceCounterDict]:
        return parse.interfaces_counters(self._decoded(self._ssh().run("ip -j -s -s link show"), "counters") or [])

    def get_vlans(self) -> dict[str, models.VlanDict]:
        result = self._ssh().run("bridge -c vlan show").checked(self.hostname)
        return parse.vlans(result.stdout)  # type: ignore[return-value]  # NAPALM's own drivers key by int

    def get_network_instances(self, name: str = "") -> dict[str, models.NetworkInstanceDict]:
        results = self._ssh().batch({"links": "ip -j -d link show", "running": self._frr_probe("show running-config")})
        links = self._decoded(results["links"], "links") or []
        return parse.network_instances(links, self._frr_answer(results["running"]), name)

    # ------------------------------------------------------------------ routing (FRR)

    def get_route_to(
        self, destination: str = "", protocol: str = "", longer: bool = False
    ) -> dict[str, models.RouteDict]:
        if destination:
            try:
                ipaddress.ip_network(destination, strict=False)
            except ValueError:
                raise CommandErrorException(f"{self.hostname}: {destination!r} is not an address or prefix") from None
        command = "show ip route vrf all json"
        answer = self._frr_answer(self._ssh().run(self._frr_probe(command)))
        try:
            tables = parse.route_tables(answer or "")
        except json.JSONDecodeError as error:
            raise CommandErrorException(f"{self.hostname}: `{command}`: not JSON ({error.msg})") from None
        routes = parse.routes_to(tables, destination, protocol, longer)
        wanted = sorted({(route["routing_table"], prefix) for prefix, entries in routes.items()
                         for route in entries if route["protocol"] == "bgp"})
        if wanted:  # BGP path attributes: one more round trip, only for the BGP prefixes found
            answers = self._ssh().batch({
                "summary": self._frr_probe("show bgp vrf all summary json"),
                **{f"{vrf} {prefix}": self._frr_probe(f"show bgp vrf {vrf} ipv4 unicast {prefix} json")
                   for vrf, prefix in wanted},
            })
            summary = decode(self._frr_answer(answers["summary"]) or "", f"{self.hostname} BGP summary") or {}
            local = {vrf: int(((families or {}).get("ipv4Unicast") or {}).get("as", 0))
                     for vrf, families in summary.items() if isinstance(families, dict)}
            attributes = {(vrf, prefix): parse.bgp_path_attributes(decode(
                self._frr_answer(answers[f"{vrf} {prefix}"]) or "", f"{self.hostname} BGP {prefix}"),
                local.get(vrf, 0)) for vrf, prefix in wanted}
            routes = parse.routes_to(tables, destination, protocol, longer, attributes)
        return routes  # NAPALM: prefix -> list of routes

    def get_bgp_neighbors_detail(self, neighbor_address: str = "") -> dict[str, models.PeerDetailsDict]:
        neighbors = self._frr_json("show bgp vrf all neighbors json")
        return parse.bgp_neighbors_detail(neighbors, neighbor_address)

    def get_bgp_config(self, group: str = "", neighbor: str = "") -> models.BGPConfigGroupDict:
        running = self._frr_answer(self._ssh().run(self._frr_probe("show running-config")))
        return parse.bgp_config(running or "", group, neighbor)

    # ------------------------------------------------------------------ LLDP, users, NTP

    def get_lldp_neighbors_detail(self, interface: str = "") -> models.LLDPNeighborsDetailDict:
        socket = f" -u {shlex.quote(self.lldpd_socket)}" if self.lldpd_socket else ""
        result = self._ssh().run(f"command -v lldpctl >/dev/null 2>&1 || exit 127; lldpctl -f json{socket}")
        if not result.ok:
            return {}  # lldpd not installed or not running: nothing to ask
        return parse.lldp_neighbors_detail(decode(result.stdout, f"{self.hostname} lldpctl"), interface)

    def get_users(self) -> dict[str, models.UsersDict]:
        results = self._ssh().batch({"passwd": "cat /etc/passwd", "keys": AUTHORIZED_KEYS})
        return parse.users(results["passwd"].checked(self.hostname).stdout,
                           parse.authorized_keys(results["keys"].stdout))

    def get_ntp_servers(self) -> dict[str, models.NTPServerDict]:
        files = " ".join(shlex.quote(path) for path in self._ntp_files())
        return parse.ntp_servers(self._ssh().run(f"cat {files} 2>/dev/null; true").stdout)

    # ------------------------------------------------------------------ commands

    def cli(self, commands: list[str], encoding: str = "text") -> dict[str, str | dict[str, Any]]:
        """Each command through the device's shell (`vtysh -c '...'` for FRR); `encoding="json"` decodes
        the output as JSON (for `ip -j ...` and vtysh's `... json`)."""
        if encoding not in ("text", "json"):
            raise NotImplementedError(f"encoding {encoding!r} (the frr driver has text and json)")
        if not isinstance(commands, list):
            raise TypeError("cli() takes a list of commands")
        results = self._ssh().batch({str(index): command for index, command in enumerate(commands)})
        output: dict[str, str | dict[str, Any]] = {}
        for index, command in enumerate(commands):
            result = results[str(index)]
            if not result.ok:
                raise CommandErrorException(f"{self.hostname}: `{command}` failed (exit {result.returncode}): "
                                            f"{(result.stderr or result.stdout).strip()[-300:]}")
            output[command] = json.loads(result.stdout) if encoding == "json" else result.stdout
        return output

    def ping(
        self,
        destination: str,
        source: str = c.PING_SOURCE,
        ttl: int = c.PING_TTL,
        timeout: int = c.PING_TIMEOUT,
        size: int = c.PING_SIZE,
        count: int = c.PING_COUNT,
        vrf: str = c.PING_VRF,
        source_interface: str = c.PING_SOURCE_INTERFACE,
    ) -> models.PingResultDict:
        """iputils ping; a VRF is its device (`-I VRF`), as Linux binds sockets to a VRF."""
        options = [f"-c {int(count)}", f"-W {int(timeout)}", f"-s {int(size)}", f"-t {int(ttl)}"]
        bind = source_interface or vrf
        if bind:
            options.append(f"-I {shlex.quote(bind)}")
        elif source:
            options.append(f"-I {shlex.quote(source)}")
        result = self._ssh().run(f"ping -n {' '.join(options)} {shlex.quote(destination)} 2>&1",
                                 timeout=float(count * (timeout + 1) + 10))
        return parse.ping_result(result.stdout, result.returncode)

    def traceroute(
        self,
        destination: str,
        source: str = c.TRACEROUTE_SOURCE,
        ttl: int = c.TRACEROUTE_TTL,
        timeout: int = c.TRACEROUTE_TIMEOUT,
        vrf: str = c.TRACEROUTE_VRF,
    ) -> models.TracerouteResultDict:
        """`traceroute -n` (Debian package traceroute); `-i VRF` binds it to a VRF device."""
        options = ["-n", "-q 3", f"-w {int(timeout)}", f"-m {min(int(ttl), 255)}"]
        if source:
            options.append(f"-s {shlex.quote(source)}")
        if vrf:
            options.append(f"-i {shlex.quote(vrf)}")
        result = self._ssh().run(f"traceroute {' '.join(options)} {shlex.quote(destination)} 2>&1",
                                 timeout=float(min(int(ttl), 64) * 3 * (timeout + 1) + 10))
        return parse.traceroute_result(result.stdout, result.returncode)
