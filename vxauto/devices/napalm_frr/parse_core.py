"""NAPALM getters of the Linux/FRR driver as pure functions: command outputs in, NAPALM models out.

Sources (all JSON where the tool has it):
- interfaces: `ip -j -d link show` (+ `/sys/class/net/*/speed` for the speed in Mbit/s),
- addresses: `ip -j addr show`,
- BGP: `vtysh -c "show bgp vrf all summary json"` and `"show bgp vrf all neighbors json"`,
- LLDP: `lldpctl -f json` (lldpd),
- MAC table: `bridge -j fdb show`.

What Linux does not know is reported the NAPALM way: `last_flapped` -1.0, a MAC entry's `moves` -1 and
`last_move` -1.0, a speed of -1.0 for virtual links (loopback, bridge, VXLAN) that have none.
Address families are named `ipv4`, `ipv6`, `l2vpn_evpn`, ... (FRR's `ipv4Unicast`, `l2VpnEvpn`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from napalm.base import models

from vxauto.errors import VxautoError

#: FRR's address-family keys -> NAPALM's names (NAPALM has no EVPN name; `l2vpn_evpn` is ours).
ADDRESS_FAMILIES = {
    "ipv4Unicast": "ipv4",
    "ipv6Unicast": "ipv6",
    "l2VpnEvpn": "l2vpn_evpn",
    "ipv4Multicast": "ipv4_multicast",
    "ipv6Multicast": "ipv6_multicast",
    "ipv4Vpn": "ipv4_vpn",
    "ipv6Vpn": "ipv6_vpn",
    "ipv4Flowspec": "ipv4_flowspec",
    "ipv6Flowspec": "ipv6_flowspec",
    "ipv4LabeledUnicast": "ipv4_labeled_unicast",
    "ipv6LabeledUnicast": "ipv6_labeled_unicast",
}


def decode(text: str, what: str) -> Any:
    """JSON text of a command; an empty answer is `None`."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise VxautoError.single(what, "", f"not valid JSON ({error.msg} at line {error.lineno})",
                                 text[:120]) from None


# --------------------------------------------------------------------------- facts, interfaces


def interface_names(links: list[dict]) -> list[str]:
    return sorted(str(link["ifname"]) for link in links)


def facts(
    hostname: str, fqdn: str, uptime: str, kernel: str, frr_version: str | None, links: list[dict],
    product: str, serial: str,
) -> models.FactsDict:
    os_version = kernel.strip()
    if frr_version:
        os_version = f"FRRouting {frr_version} on {os_version}"
    return {
        "hostname": hostname.strip(),
        "fqdn": fqdn.strip() or hostname.strip(),
        "vendor": "FRRouting" if frr_version else "Linux",
        "model": product.strip() or ("Linux/FRR VTEP" if frr_version else "Linux"),
        "serial_number": serial.strip(),
        "os_version": os_version,
        "uptime": float(uptime.split(maxsplit=1)[0]) if uptime.strip() else -1.0,
        "interface_list": interface_names(links),
    }


def frr_version(show_version: str) -> str | None:
    """`FRRouting 8.4.4 (leaf1) on Linux(...)` -> "8.4.4"."""
    match = re.search(r"FRRouting (\S+)", show_version)
    return match.group(1) if match else None


def speeds(text: str) -> dict[str, float]:
    """`name speed` lines (Mbit/s, -1 for unknown) from /sys/class/net/*/speed."""
    result: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"-?\d+", parts[1]):
            value = float(parts[1])
            result[parts[0]] = value if value > 0 else -1.0
    return result


def interfaces(links: list[dict], link_speeds: Mapping[str, float]) -> dict[str, models.InterfaceDict]:
    result: dict[str, models.InterfaceDict] = {}
    for link in links:
        name = str(link["ifname"])
        flags = link.get("flags") or []
        result[name] = {
            # LOWER_UP: the carrier is there; UNKNOWN operstate on lo/VXLAN devices still forwards
            "is_up": "UP" in flags and ("LOWER_UP" in flags or link.get("operstate") == "UNKNOWN"),
            "is_enabled": "UP" in flags,
            "description": str(link.get("ifalias") or ""),
            "last_flapped": -1.0,
            "mtu": int(link.get("mtu", 0)),
            "speed": float(link_speeds.get(name, -1.0)),
            "mac_address": str(link.get("address") or "").upper() if link.get("link_type") == "ether" else "",
        }
    return result


def interfaces_ip(addresses: list[dict]) -> dict[str, models.InterfacesIPDict]:
    result: dict[str, models.InterfacesIPDict] = {}
    for link in addresses:
        families: dict[str, dict[str, models.InterfacesIPDictEntry]] = {}
        for info in link.get("addr_info") or []:
            family = {"inet": "ipv4", "inet6": "ipv6"}.get(info.get("family", ""))
            if family is None or info.get("local") is None:
                continue
            address = ipaddress.ip_address(info["local"]).compressed
            families.setdefault(family, {})[address] = {"prefix_length": int(info["prefixlen"])}
        if families:
            result[str(link["ifname"])] = families
    return result


# --------------------------------------------------------------------------- BGP


def address_family_name(key: str) -> str:
    if key in ADDRESS_FAMILIES:
        return ADDRESS_FAMILIES[key]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def bgp_neighbors(summary: Mapping | None, neighbors: Mapping | None) -> dict[str, models.BGPStateNeighborsPerVRFDict]:
    """`get_bgp_neighbors()` from FRR's `show bgp vrf all summary json` + `show bgp vrf all neighbors json`.

    The VRF `default` is NAPALM's `global`. Per address family: `received_prefixes` is FRR's `pfxRcd`,
    `accepted_prefixes` its `acceptedPrefixCounter` and `sent_prefixes` its `sentPrefixCounter`.
    """
    result: dict[str, models.BGPStateNeighborsPerVRFDict] = {}
    for vrf, families in (summary or {}).items():
        if not isinstance(families, dict):
            continue
        name = "global" if vrf == "default" else vrf
        router_id = next((str(info.get("routerId")) for info in families.values()
                          if isinstance(info, dict) and info.get("routerId")), "")
        details = (neighbors or {}).get(vrf) or {}
        peers: dict[str, models.PeerDict] = {}
        for family_key, info in families.items():
            if not isinstance(info, dict):
                continue
            for address, peer in (info.get("peers") or {}).items():
                entry = peers.get(address) or _peer(peer, details.get(address) or {})
                counters = (details.get(address) or {}).get("addressFamilyInfo", {}).get(family_key, {})
                entry["address_family"][address_family_name(family_key)] = {
                    "received_prefixes": int(peer.get("pfxRcd", -1)),
                    "accepted_prefixes": int(counters.get("acceptedPrefixCounter", peer.get("pfxRcd", -1))),
                    "sent_prefixes": int(counters.get("sentPrefixCounter", peer.get("pfxSnt", -1))),
                }
                peers[address] = entry
        result[name] = {"router_id": router_id, "peers": peers}
    return result


def _peer(summary: Mapping, detail: Mapping) -> models.PeerDict:
    state = str(detail.get("bgpState") or summary.get("state") or "")
    up = state == "Established"
    shutdown = bool(detail.get("adminShutDown")) or "Admin" in str(summary.get("state", ""))
    uptime = detail.get("bgpTimerUpMsec", summary.get("peerUptimeMsec"))
    return {
        "is_enabled": not shutdown,
        "is_up": up,
        "uptime": int(uptime) // 1000 if up and uptime is not None else -1,
        "remote_as": int(detail.get("remoteAs", summary.get("remoteAs", 0))),
        "local_as": int(detail.get("localAs", summary.get("localAs", 0))),
        "description": str(detail.get("nbrDesc") or summary.get("desc") or ""),
        "remote_id": str(detail.get("remoteRouterId") or "0.0.0.0"),
        "address_family": {},
    }


# --------------------------------------------------------------------------- LLDP, MAC table


def lldp_neighbors(document: Mapping | None) -> dict[str, list[models.LLDPNeighborDict]]:
    """From `lldpctl -f json`: the `interface` value is one object or a list of one-key objects."""
    interfaces_value = ((document or {}).get("lldp") or {}).get("interface") or []
    entries: list[tuple[str, Mapping]] = []
    for item in interfaces_value if isinstance(interfaces_value, list) else [interfaces_value]:
        entries += [(name, value) for name, value in item.items() if isinstance(value, Mapping)]
    result: dict[str, list[models.LLDPNeighborDict]] = {}
    for local, info in entries:
        chassis = info.get("chassis") or {}
        # chassis is keyed by the system name; without one, its only key holds the chassis ID
        hostname = next(iter(chassis), "") if chassis and "id" not in chassis else ""
        port = info.get("port") or {}
        port_id = port.get("id") or {}
        # a MAC port ID says nothing readable; lldpd puts the interface name in the description then
        name = port.get("descr") if port_id.get("type") == "mac" and port.get("descr") else port_id.get("value")
        result.setdefault(local, []).append({"hostname": str(hostname), "port": str(name or "")})
    return result


def mac_address_table(fdb: list[dict]) -> list[models.MACAdressTable]:
    """Bridge FDB entries (the ones with a `master` bridge), without the all-zero flood entries."""
    table: list[models.MACAdressTable] = []
    for entry in fdb:
        if not entry.get("master") or entry.get("mac") == "00:00:00:00:00:00":
            continue
        state = str(entry.get("state") or "")
        table.append({
            "mac": str(entry["mac"]).upper(),
            "interface": str(entry.get("ifname") or ""),
            "vlan": int(entry.get("vlan") or 0),
            "static": state in ("permanent", "static"),
            "active": True,
            "moves": -1,
            "last_move": -1.0,
        })
    return table
