"""More NAPALM getters of the Linux/FRR driver as pure functions: command outputs in, NAPALM models out.

Sources (JSON where the tool has it; see `getters_more.py` for the exact commands):
- ARP / IPv6 neighbours: `ip -j -s -4|-6 neigh show` (`updated`: seconds since the entry last changed),
- counters: `ip -j -s -s link show` (the kernel's rtnl_link_stats64),
- routes: `vtysh -c 'show ip route vrf all json'`, BGP path attributes from `show bgp vrf NAME ipv4 unicast P json`,
- BGP details: `show bgp vrf all neighbors json`; BGP configuration and VRF route distinguishers:
  `show running-config` (FRR's own text, the configuration as FRR holds it),
- VLANs: `bridge -c vlan show` (VLAN-filtering bridges; a bridge without VLAN filtering has no VLAN IDs),
- network instances: `ip -j -d link show` (VRF devices and their members),
- LLDP details: `lldpctl -f json`, users: /etc/passwd + ~/.ssh/authorized_keys, NTP: chrony/ntpd/timesyncd
  configuration files, ping: iputils `ping`, traceroute: `traceroute -n`.

What Linux does not count is -1 (NAPALM's convention): the kernel keeps no broadcast counters and no
transmitted multicast counter.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from napalm.base import models

DEFAULT_VRF = "default"

# --------------------------------------------------------------------------- neighbours, counters


def _neighbor_entries(neighbors: Iterable[Mapping]) -> Iterable[Mapping]:
    """Entries that resolved to a MAC (not FAILED/INCOMPLETE, not a bare NOARP placeholder)."""
    for entry in neighbors:
        if entry.get("lladdr") and not {"FAILED", "INCOMPLETE"} & set(entry.get("state") or []):
            yield entry


def arp_table(neighbors: Iterable[Mapping]) -> list[models.ARPTableDict]:
    return [{
        "interface": str(entry.get("dev", "")),
        "mac": str(entry["lladdr"]).upper(),
        "ip": str(entry["dst"]),
        "age": float(entry.get("updated", -1.0)),
    } for entry in _neighbor_entries(neighbors)]


def ipv6_neighbors(neighbors: Iterable[Mapping]) -> list[models.IPV6NeighborDict]:
    return [{
        "interface": str(entry.get("dev", "")),
        "mac": str(entry["lladdr"]).upper(),
        "ip": ipaddress.ip_address(entry["dst"]).compressed,
        "age": float(entry.get("updated", -1.0)),
        "state": str((entry.get("state") or ["NONE"])[0]),
    } for entry in _neighbor_entries(neighbors)]


def interfaces_counters(links: Iterable[Mapping]) -> dict[str, models.InterfaceCounterDict]:
    result: dict[str, models.InterfaceCounterDict] = {}
    for link in links:
        stats = link.get("stats64") or {}
        rx, tx = stats.get("rx") or {}, stats.get("tx") or {}
        multicast = int(rx.get("multicast", 0))
        result[str(link["ifname"])] = {
            "tx_errors": int(tx.get("errors", 0)), "rx_errors": int(rx.get("errors", 0)),
            "tx_discards": int(tx.get("dropped", 0)), "rx_discards": int(rx.get("dropped", 0)),
            "tx_octets": int(tx.get("bytes", 0)), "rx_octets": int(rx.get("bytes", 0)),
            "tx_unicast_packets": int(tx.get("packets", 0)),  # the kernel counts no transmitted multicast
            "rx_unicast_packets": max(int(rx.get("packets", 0)) - multicast, 0),
            "tx_multicast_packets": -1, "rx_multicast_packets": multicast,
            "tx_broadcast_packets": -1, "rx_broadcast_packets": -1,
        }
    return result


# --------------------------------------------------------------------------- routes


def uptime_seconds(text: str) -> int:
    """FRR's route uptime: `00:05:12`, `1d02h03m`, `2w3d04h` -> seconds (-1 when unreadable)."""
    if re.fullmatch(r"\d+:\d{2}:\d{2}", text):
        hours, minutes, seconds = (int(part) for part in text.split(":"))
        return hours * 3600 + minutes * 60 + seconds
    units = {"y": 31536000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([ywdhms])", text)
    return sum(int(value) * units[unit] for value, unit in parts) if parts else -1


def route_tables(text: str) -> dict[str, dict[str, list[Mapping]]]:
    """`show ip route vrf all json` of FRR 8.x: one JSON object of prefixes per VRF, printed one after the
    other (not wrapped in a VRF key); each route names its `vrfName`. -> {vrf: {prefix: [route, ...]}}"""
    decoder = json.JSONDecoder()
    tables: dict[str, dict[str, list[Mapping]]] = {}
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return tables
        document, position = decoder.raw_decode(text, position)
        for prefix, entries in (document or {}).items():
            for entry in entries:
                tables.setdefault(str(entry.get("vrfName", DEFAULT_VRF)), {}).setdefault(prefix, []).append(entry)


def route_matches(prefix: str, destination: str, longer: bool) -> bool:
    network = ipaddress.ip_network(prefix, strict=False)
    if not destination:
        return True
    wanted = ipaddress.ip_network(destination, strict=False)
    if network.version != wanted.version:
        return False
    if longer:
        return network.subnet_of(wanted)  # type: ignore[arg-type]
    if "/" in destination:
        return network == wanted
    return wanted.subnet_of(network)  # type: ignore[arg-type]  # an address: the routes that cover it


def routes_to(
    tables: Mapping[str, Mapping[str, list[Mapping]]] | None, destination: str, protocol: str, longer: bool,
    bgp_attributes: Mapping[tuple[str, str], dict[str, Any]] | None = None,
) -> dict[str, list[models.RouteDict]]:
    """`get_route_to` from `show ip route vrf all json` ({vrf: {prefix: [route, ...]}}).

    Without a prefix length, the destination is an address and the answer is every route covering it
    (the most specific first, as a router would choose); with one, the exact prefix; `longer` adds the
    more specific prefixes. One RouteDict per next hop; `current_active` is FRR's `selected` and
    `selected_next_hop` its per-next-hop `fib` flag.
    """
    result: dict[str, list[models.RouteDict]] = {}
    for vrf, prefixes in (tables or {}).items():
        for prefix, entries in prefixes.items():
            if not route_matches(prefix, destination, longer):
                continue
            for entry in entries:
                if protocol and entry.get("protocol") != protocol:
                    continue
                attributes = (bgp_attributes or {}).get((vrf, prefix), {}) if entry.get("protocol") == "bgp" else {}
                for hop in entry.get("nexthops") or [{}]:
                    result.setdefault(prefix, []).append(_route(vrf, entry, hop, attributes))
    if destination and "/" not in destination and not longer:
        # only the longest match answers for an address
        best = max((ipaddress.ip_network(p).prefixlen for p in result), default=None)
        result = {p: routes for p, routes in result.items() if ipaddress.ip_network(p).prefixlen == best}
    return result


def _route(vrf: str, entry: Mapping, hop: Mapping, attributes: dict[str, Any]) -> models.RouteDict:
    selected = bool(entry.get("selected"))
    inactive = "" if selected else ("not installed" if not entry.get("installed") else "not selected")
    return {
        "protocol": str(entry.get("protocol", "")),
        "current_active": selected,
        "last_active": selected,
        "age": uptime_seconds(str(entry.get("uptime", ""))),
        "next_hop": str(hop.get("ip", "")),
        "outgoing_interface": str(hop.get("interfaceName", "")),
        "selected_next_hop": bool(hop.get("fib")),
        "preference": int(entry.get("distance", 0)),
        "inactive_reason": inactive,
        "routing_table": vrf,
        "protocol_attributes": dict(attributes),
    }


def bgp_path_attributes(document: Mapping | None, local_as: int = 0) -> dict[str, Any]:
    """NAPALM's BGP protocol_attributes from `show bgp vrf V ipv4 unicast PREFIX json` (the best path);
    FRR does not repeat the local AS there: `local_as` comes from the VRF's BGP summary."""
    paths = (document or {}).get("paths") or []
    best = next((path for path in paths if (path.get("bestpath") or {}).get("overall")), paths[0] if paths else None)
    if best is None:
        return {}
    peer = best.get("peer") or {}
    as_path = str((best.get("aspath") or {}).get("string", ""))
    first_as = (as_path.split(maxsplit=1) or [""])[0]
    communities = (best.get("community") or {}).get("string", "")
    return {
        "local_as": local_as,
        "remote_as": int(first_as) if first_as.isdigit() else local_as,  # an empty path: our own AS
        "peer_id": str(peer.get("routerId", "")),
        "as_path": as_path,
        "communities": communities.split() if communities else [],
        "local_preference": int(best.get("locPrf", 100)),
        "preference2": -1,
        "metric": int(best.get("metric", 0)),
        "metric2": -1,
    }


# --------------------------------------------------------------------------- BGP


def bgp_neighbors_detail(
    neighbors: Mapping[str, Mapping] | None, neighbor_address: str = ""
) -> dict[str, dict[int, list[models.PeerDetailsDict]]]:
    """`get_bgp_neighbors_detail` from `show bgp vrf all neighbors json` (VRF `default` is NAPALM's `global`)."""
    result: dict[str, dict[int, list[models.PeerDetailsDict]]] = {}
    for vrf, peers in (neighbors or {}).items():
        if not isinstance(peers, Mapping):
            continue
        name = "global" if vrf == DEFAULT_VRF else vrf
        for address, peer in peers.items():
            if not isinstance(peer, Mapping) or "remoteAs" not in peer:
                continue
            if neighbor_address and address != neighbor_address:
                continue
            detail = _peer_detail(vrf, address, peer)
            result.setdefault(name, {}).setdefault(detail["remote_as"], []).append(detail)
    return result


def _peer_detail(vrf: str, address: str, peer: Mapping) -> models.PeerDetailsDict:
    stats = peer.get("messageStats") or {}
    families = (peer.get("addressFamilyInfo") or {}).values()
    accepted = sum(int(af.get("acceptedPrefixCounter", 0)) for af in families)
    sent = sum(int(af.get("sentPrefixCounter", 0)) for af in families)
    policies = [af for af in families if isinstance(af, Mapping)]
    state = str(peer.get("bgpState", ""))
    return {
        "up": state == "Established",
        "local_as": int(peer.get("localAs", 0)),
        "remote_as": int(peer.get("remoteAs", 0)),
        "router_id": str(peer.get("remoteRouterId", "")),
        "local_address": str(peer.get("hostLocal", "")),
        "routing_table": vrf,
        "local_address_configured": bool(peer.get("updateSource")),
        "local_port": int(peer.get("portLocal", 0)),
        "remote_address": str(peer.get("hostForeign", address)),
        "remote_port": int(peer.get("portForeign", 0)),
        "multihop": int(peer.get("externalBgpNbrMaxHopsAway", 1)) > 1,
        "multipath": False,
        "remove_private_as": any("privateAsNumsRemovedInUpdatesToNbr" in af for af in policies),
        "import_policy": next((str(af["routeMapForIncomingAdvertisements"]) for af in policies
                               if "routeMapForIncomingAdvertisements" in af), ""),
        "export_policy": next((str(af["routeMapForOutgoingAdvertisements"]) for af in policies
                               if "routeMapForOutgoingAdvertisements" in af), ""),
        "input_messages": int(stats.get("totalRecv", 0)),
        "output_messages": int(stats.get("totalSent", 0)),
        "input_updates": int(stats.get("updatesRecv", 0)),
        "output_updates": int(stats.get("updatesSent", 0)),
        "messages_queued_out": int(stats.get("depthOutq", 0)),
        "connection_state": state,
        "previous_connection_state": str(peer.get("lastResetDueTo", "")),
        "last_event": str(peer.get("lastResetDueTo", "")),
        "suppress_4byte_as": (peer.get("neighborCapabilities") or {}).get("4byteAs") != "advertisedAndReceived",
        "local_as_prepend": False,
        "holdtime": int(peer.get("bgpTimerHoldTimeMsecs", 0)) // 1000,
        "configured_holdtime": int(peer.get("bgpTimerConfiguredHoldTimeMsecs", 0)) // 1000,
        "keepalive": int(peer.get("bgpTimerKeepAliveIntervalMsecs", 0)) // 1000,
        "configured_keepalive": int(peer.get("bgpTimerConfiguredKeepAliveIntervalMsecs", 0)) // 1000,
        "active_prefix_count": accepted,
        "received_prefix_count": accepted,
        "accepted_prefix_count": accepted,
        "suppressed_prefix_count": 0,
        "advertised_prefix_count": sent,
        "flap_count": int(peer.get("connectionsDropped", 0)),
    }


def bgp_blocks(running: str) -> list[tuple[str, list[str]]]:
    """`router bgp ...` blocks of FRR's running configuration: (header line, body lines stripped)."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for raw in running.splitlines():
        line = raw.strip()
        if raw.startswith("router bgp "):
            current = []
            blocks.append((line, current))
        elif current is not None and raw.rstrip() in ("exit", "!") and not raw.startswith(" "):
            current = None
        elif current is not None and line and line != "!":
            current.append(line)
    return blocks


def bgp_config(running: str, group: str = "", neighbor: str = "") -> dict[str, models.BGPConfigGroupDict]:
    """`get_bgp_config` from the default VRF's `router bgp` block: FRR peer-groups are NAPALM groups,
    neighbours without one are in group `_` (as NAPALM's Junos driver names them)."""
    block = next((body for header, body in bgp_blocks(running) if " vrf " not in header), None)
    if block is None:
        return {}
    asn = int(next(header for header, _ in bgp_blocks(running) if " vrf " not in header).split()[2])
    settings: dict[str, dict[str, str]] = {}
    groups: set[str] = set()
    policies: dict[str, dict[str, str]] = {}
    multipath = any(line.startswith("maximum-paths") or "multipath" in line for line in block)
    for line in block:
        words = line.split()
        if len(words) >= 3 and words[0] == "neighbor":
            name, key = words[1], words[2]
            value = " ".join(words[3:])
            if key == "peer-group" and not value:
                groups.add(name)
            elif key == "route-map" and len(words) >= 5:
                policies.setdefault(name, {})["import" if words[4] == "in" else "export"] = words[3]
            else:
                settings.setdefault(name, {})[key] = value
    members: dict[str, dict[str, models.BGPConfigNeighborDict]] = {}
    for name, values in settings.items():
        if name in groups:
            continue
        owner = values.get("peer-group", "_")
        members.setdefault(owner, {})[name] = _neighbor_config(asn, values, policies.get(name, {}))
    result: dict[str, models.BGPConfigGroupDict] = {}
    for name in sorted(groups | set(members)):
        values = settings.get(name, {})
        remote = values.get("remote-as", "")
        result[name] = {
            "type": "" if name == "_" else ("internal" if remote in ("internal", str(asn)) else "external"),
            "description": values.get("description", ""),
            "apply_groups": [],
            "multihop_ttl": int(values["ebgp-multihop"] or 255) if "ebgp-multihop" in values else 0,
            "multipath": multipath,
            "local_address": values.get("update-source", ""),
            "local_as": asn,
            "remote_as": int(remote) if remote.isdigit() else 0,
            "import_policy": policies.get(name, {}).get("import", ""),
            "export_policy": policies.get(name, {}).get("export", ""),
            "remove_private_as": "remove-private-AS" in values,
            "prefix_limit": {},
            "neighbors": {address: data for address, data in members.get(name, {}).items()
                          if not neighbor or address == neighbor},
        }
    if group:
        return {name: data for name, data in result.items() if name == group}
    return result


def _neighbor_config(asn: int, values: Mapping[str, str], policy: Mapping[str, str]) -> models.BGPConfigNeighborDict:
    remote = values.get("remote-as", "")
    return {
        "description": values.get("description", ""),
        "import_policy": policy.get("import", ""),
        "export_policy": policy.get("export", ""),
        "local_address": values.get("update-source", ""),
        "authentication_key": "",  # never handed out; FRR keeps it in `neighbor X password`
        "nhs": "next-hop-self" in values,
        "route_reflector_client": "route-reflector-client" in values,
        "local_as": int(values["local-as"].split()[0]) if values.get("local-as") else asn,
        "remote_as": int(remote) if remote.isdigit() else (asn if remote == "internal" else 0),
        "prefix_limit": {},
    }


# --------------------------------------------------------------------------- VLANs, network instances


def vlans(text: str) -> dict[int, models.VlanDict]:
    """`bridge -c vlan show` (text; `-c` folds ranges): port lines `PORT\\t VID [PVID] [Egress Untagged]`
    and continuation lines `\\t VID`. A VLAN's name is `vlan<ID>` (Linux VLANs have none)."""
    result: dict[int, models.VlanDict] = {}
    port = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("port"):
            continue
        if not line[0].isspace():
            port, _, rest = line.partition("\t")
            port = port.strip()
        else:
            rest = line
        match = re.match(r"\s*(\d+)(?:-(\d+))?", rest)
        if match is None or not port:
            continue
        first = int(match.group(1))
        for vid in range(first, int(match.group(2) or first) + 1):
            entry = result.setdefault(vid, {"name": f"vlan{vid}", "interfaces": []})
            if port not in entry["interfaces"]:
                entry["interfaces"].append(port)
    return result


def network_instances(
    links: Iterable[Mapping], running: str | None, name: str = ""
) -> dict[str, models.NetworkInstanceDict]:
    """The default instance and one L3VRF per VRF device, with their member interfaces; a VRF's RD is the
    one FRR has in its `router bgp ASN vrf NAME` block (EVPN `rd`), else empty."""
    links = list(links)
    vrfs = [str(link["ifname"]) for link in links
            if ((link.get("linkinfo") or {}).get("info_kind")) == "vrf"]
    distinguishers: dict[str, str] = {}
    for header, body in bgp_blocks(running or ""):
        words = header.split()
        if len(words) >= 5 and words[3] == "vrf":
            distinguishers[words[4]] = next((line.split()[1] for line in body if line.startswith("rd ")), "")
    members: dict[str, list[str]] = {DEFAULT_VRF: []}
    for vrf in vrfs:
        members[vrf] = []
    for link in links:
        ifname = str(link["ifname"])
        if ifname in vrfs:
            continue
        master = str(link.get("master") or "")
        owner = master if master in vrfs else DEFAULT_VRF
        # a bridge port belongs where its bridge is (VRF membership is the bridge's)
        if master and master not in vrfs:
            bridge = next((other for other in links if other.get("ifname") == master), {})
            owner = str(bridge.get("master")) if bridge.get("master") in vrfs else DEFAULT_VRF
        members[owner].append(ifname)
    result: dict[str, models.NetworkInstanceDict] = {}
    for instance, interfaces in members.items():
        if name and instance != name:
            continue
        result[instance] = {
            "name": instance,
            "type": "DEFAULT_INSTANCE" if instance == DEFAULT_VRF else "L3VRF",
            "state": {"route_distinguisher": distinguishers.get(instance, "")},
            "interfaces": {"interface": {interface: {} for interface in sorted(interfaces)}},
        }
    return result


# --------------------------------------------------------------------------- LLDP details


def lldp_neighbors_detail(
    document: Mapping | None, interface: str = ""
) -> dict[str, list[models.LLDPNeighborDetailDict]]:
    """From `lldpctl -f json`: chassis keyed by system name (or, without one, holding the ID directly)."""
    value = ((document or {}).get("lldp") or {}).get("interface") or []
    entries: list[tuple[str, Mapping]] = []
    for item in value if isinstance(value, list) else [value]:
        entries += [(local, info) for local, info in item.items() if isinstance(info, Mapping)]
    result: dict[str, list[models.LLDPNeighborDetailDict]] = {}
    for local, info in entries:
        if interface and local != interface:
            continue
        chassis_map = info.get("chassis") or {}
        if "id" in chassis_map:
            system, chassis = "", chassis_map
        else:
            system, chassis = next(iter(chassis_map.items()), ("", {}))
        port = info.get("port") or {}
        capabilities = chassis.get("capability") or []
        if isinstance(capabilities, Mapping):
            capabilities = [capabilities]
        result.setdefault(local, []).append({
            "parent_interface": "",
            "remote_port": str((port.get("id") or {}).get("value", "")),
            "remote_port_description": str(port.get("descr", "")),
            "remote_chassis_id": str((chassis.get("id") or {}).get("value", "")),
            "remote_system_name": str(system),
            "remote_system_description": str(chassis.get("descr", "")),
            "remote_system_capab": [str(c["type"]).lower() for c in capabilities],
            "remote_system_enable_capab": [str(c["type"]).lower() for c in capabilities if c.get("enabled")],
        })
    return result


# --------------------------------------------------------------------------- users, NTP


NOLOGIN_SHELLS = ("nologin", "false", "sync", "halt", "shutdown")


def users(passwd: str, keys: Mapping[str, list[str]]) -> dict[str, models.UsersDict]:
    """Accounts that can log in (a real shell); root gets level 15, everyone else 0. Password hashes are
    not read (they live in /etc/shadow and stay there): `password` is empty."""
    result: dict[str, models.UsersDict] = {}
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or fields[6].strip().rsplit("/", 1)[-1] in NOLOGIN_SHELLS:
            continue
        result[fields[0]] = {"level": 15 if fields[2] == "0" else 0, "password": "",
                             "sshkeys": list(keys.get(fields[0], []))}
    return result


def authorized_keys(text: str) -> dict[str, list[str]]:
    """`== USER` header lines followed by that user's authorized_keys lines (comments dropped)."""
    result: dict[str, list[str]] = {}
    user = ""
    for line in text.splitlines():
        if line.startswith("== "):
            user = line[3:].strip()
            result.setdefault(user, [])
        elif user and line.strip() and not line.lstrip().startswith("#"):
            result[user].append(line.strip())
    return result


def ntp_servers(config: str) -> dict[str, models.NTPServerDict]:
    """`server`/`pool`/`peer` lines of chrony.conf or ntp.conf, and `NTP=` of timesyncd.conf."""
    result: dict[str, models.NTPServerDict] = {}
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if not words:
            continue
        if words[0].startswith("NTP=") or words[0].startswith("FallbackNTP="):
            for address in " ".join(words)[words[0].index("=") + 1:].split():
                result[address] = _ntp(address, "SERVER", [])
        elif words[0] in ("server", "pool", "peer") and len(words) >= 2:
            result[words[1]] = _ntp(words[1], "PEER" if words[0] == "peer" else words[0].upper(), words[2:])
    return result


def _ntp(address: str, kind: str, options: list[str]) -> models.NTPServerDict:
    def value(option: str, default: int) -> int:
        return int(options[options.index(option) + 1]) if option in options[:-1] else default

    return {
        "address": address, "port": value("port", 123), "version": value("version", 4), "association_type": kind,
        "iburst": "iburst" in options, "prefer": "prefer" in options, "network_instance": "",
        "source_address": "", "key_id": value("key", -1),
    }


# --------------------------------------------------------------------------- ping, traceroute


def ping_result(text: str, returncode: int) -> models.PingResultDict:
    """iputils `ping -n` output: replies (`64 bytes from IP: icmp_seq=1 ttl=64 time=0.05 ms`), the
    `N packets transmitted, M received` line and `rtt min/avg/max/mdev = a/b/c/d ms`."""
    sent = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", text)
    if sent is None:
        return {"error": text.strip().splitlines()[-1] if text.strip() else f"ping failed (exit {returncode})"}
    rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", text)
    low, average, high, deviation = (float(v) for v in rtt.groups()) if rtt else (0.0, 0.0, 0.0, 0.0)
    results = [{"ip_address": address, "rtt": float(time)}
               for address, time in re.findall(r"bytes from ([0-9a-fA-F.:]+): .*?time=([\d.]+) ms", text)]
    probes, received = int(sent.group(1)), int(sent.group(2))
    return {"success": {
        "probes_sent": probes, "packet_loss": probes - received, "rtt_min": low, "rtt_max": high,
        "rtt_avg": average, "rtt_stddev": deviation, "results": results,
    }}


def traceroute_result(text: str, returncode: int) -> models.TracerouteResultDict:
    """`traceroute -n` output: one line per hop, `N  IP  t1 ms  t2 ms  t3 ms`, `*` for a lost probe, a
    new IP wherever a probe was answered by another router."""
    hops: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        match = re.match(r"\s*(\d+)\s+(.*)", line)
        if match is None:
            continue
        probes: dict[int, models.TracerouteDict] = {}
        address = "*"
        for token in re.findall(r"\*|[\d.]+ ms|[0-9a-fA-F]*[.:][0-9a-fA-F.:]+", match.group(2)):
            if token == "*":
                probes[len(probes) + 1] = {"rtt": 0.0, "ip_address": "*", "host_name": "*"}
            elif token.endswith(" ms"):
                probes[len(probes) + 1] = {"rtt": float(token[:-3]), "ip_address": address, "host_name": address}
            else:
                address = token
        hops[int(match.group(1))] = {"probes": probes}
    if not hops:
        return {"error": text.strip().splitlines()[-1] if text.strip() else f"traceroute failed (exit {returncode})"}
    return {"success": hops}



# --------------------------------------------------------------------------- environment


def environment(stat: str, meminfo: str, thermal: str) -> models.EnvironmentDict:
    """`get_environment` from /proc/stat, /proc/meminfo and /sys/class/thermal.

    CPU usage per CPU is the share of non-idle time since boot (one reading; no sampling interval on the
    device). Memory in bytes: `available_ram` is MemTotal, `used_ram` MemTotal - MemAvailable. Temperatures
    per thermal zone (`zone type millidegrees critical-trip`), critical at or above the zone's critical trip
    point. Fans and power supplies: Linux exposes none in a standard place, so they are empty.
    """
    cpu: dict[int, models.CPUDict] = {}
    for line in stat.splitlines():
        match = re.match(r"cpu(\d+)\s+(.*)", line)
        if match:
            fields = [int(value) for value in match.group(2).split()]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            total = sum(fields[:8])
            cpu[int(match.group(1))] = {"%usage": round(100.0 * (total - idle) / total, 2) if total else 0.0}
    memory = {key: int(value) * 1024 for key, value in re.findall(r"^(\w+):\s+(\d+) kB$", meminfo, re.MULTILINE)}
    total_ram = memory.get("MemTotal", 0)
    temperature: dict[str, models.TemperatureDict] = {}
    for line in thermal.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2].lstrip("-").isdigit():
            degrees = int(parts[2]) / 1000
            critical = int(parts[3]) / 1000 if len(parts) > 3 and parts[3].isdigit() else None
            temperature[f"{parts[0]} {parts[1]}"] = {
                "temperature": degrees, "is_alert": critical is not None and degrees >= critical - 10,
                "is_critical": critical is not None and degrees >= critical,
            }
    return {
        "fans": {}, "power": {}, "temperature": temperature, "cpu": cpu,
        "memory": {"available_ram": total_ram, "used_ram": total_ram - memory.get("MemAvailable", total_ram)},
    }
