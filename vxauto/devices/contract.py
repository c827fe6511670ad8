"""The typed return shape of the VXLAN getters, one shape for every platform.

Like NAPALM's `napalm/base/models.py`, these TypedDicts are the contract between the drivers (which
talk to devices) and everything that consumes their answers (`vxauto validate`, reports). Every
platform returns exactly these keys with these types; what a platform cannot tell is `None` or
`"unknown"`, never a missing key and never a guess.

`get_vxlan_vnis() -> dict[int, VniInfo]`, keyed by VNI (an `int` everywhere, 1..16777215).

`get_vxlan_vteps() -> dict[str, VtepInfo]`, keyed by the remote VTEP's IP address in its canonical
text form (`ipaddress.ip_address(x).compressed`).

Lists are sorted: VNIs numerically, IP addresses by (IP version, numeric value) - see `ip_sort_key`.

Field by field, see the TypedDict docstrings; docs/getters.md has the per-platform sources.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Literal, TypedDict, get_args

#: Operational state as the device reports it. `unknown`: the device's output has no state for it.
State = Literal["up", "down", "unknown"]

#: How the device learns remote VTEPs (and remote MACs) for a VNI.
#: - `evpn`: BGP EVPN control plane (type-2/3/5 routes).
#: - `static`: a configured flood list (head-end replication to listed VTEPs), no control plane.
#: - `dataplane`: flood-and-learn: BUM traffic goes to an underlay multicast group and remote
#:   MACs/VTEPs are learned from traffic.
#: - `unknown`: the output does not say.
Learning = Literal["evpn", "static", "dataplane", "unknown"]

#: `l2`: a bridged segment (VLAN/bridge domain). `l3`: a VRF's VNI (symmetric IRB, EVPN type-5).
VniType = Literal["l2", "l3"]

MIN_VNI = 1
MAX_VNI = 16_777_215


class VniInfo(TypedDict):
    """One VNI configured on the device.

    - `type`: `l2` or `l3`.
    - `vlan`: the local VLAN ID mapped to the VNI. For an L3 VNI, the VLAN the platform uses to carry
      it (EOS dynamic VLAN, NX-OS vlan-bd, the Linux bridge VLAN of the L3 VXLAN port) when the
      output shows one; `None` when the output has none.
    - `state`: `up`/`down` as the device reports it for this VNI (on EOS, the Vxlan interface's line
      protocol; on Linux, the VXLAN netdev's UP/LOWER_UP flags); `unknown` where the output has no
      state (Junos).
    - `learning`: see `Learning`.
    - `interface`: the VXLAN/NVE interface carrying the VNI (`Vxlan1`, `nve1`, `vni24`), if named.
    - `source_ip`: the local VTEP address remote VTEPs send to (for MLAG/vPC pairs the shared
      anycast address, e.g. NX-OS `secondary-ip`); `None` if unset (`0.0.0.0`) or not shown.
    - `source_interface`: the interface the source IP comes from (`Loopback1`, `loopback1`,
      `lo0.0`); `None` if not shown.
    - `flood_list`: remote VTEP IPs that get this VNI's BUM traffic by head-end replication
      (static flood list or EVPN type-3 routes), sorted; `[]` for L3 VNIs, for multicast-only
      replication and when there is no remote VTEP; `None` only when the platform's reply cannot
      tell (NX-OS plain-text fallback).
    - `mcast_group`: the underlay multicast group for BUM traffic, if one is used.
    - `vrf`: for an L3 VNI, the VRF it serves (`None` if the device names none, e.g. FRR's `n/a`
      for an L3 VNI whose VRF is not up); for an L2 VNI, the tenant VRF of the segment's gateway
      when the device reports it (Junos IRB context, FRR), else `None`.
    - `bridge`: the named bridge the VNI's VXLAN port is a member of (Linux bridge device);
      `None` on platforms where the VLAN itself is the bridge domain (EOS, NX-OS, Junos).
    - `svi`: the routed interface of the segment or of the L3 VNI when the output names it
      (Junos `irb.10`, FRR `sviIntf`), else `None`.
    """

    type: VniType
    vlan: int | None
    state: State
    learning: Learning
    interface: str | None
    source_ip: str | None
    source_interface: str | None
    flood_list: list[str] | None
    mcast_group: str | None
    vrf: str | None
    bridge: str | None
    svi: str | None


class VtepInfo(TypedDict):
    """One remote VTEP the device knows.

    - `vnis`: VNIs (L2 and L3) for which the device has this VTEP in its forwarding or
      control-plane tables, sorted; `None` only when the reply cannot tell (NX-OS plain-text
      `show nve peers` lists no VNIs).
    - `state`: `up`/`down` when the device reports a per-peer state (NX-OS peer-state);
      `unknown` otherwise (EOS, Junos and Linux list installed VTEPs without a state).
    - `learning`: how the device learned the VTEP (see `Learning`); with several sources the
      strongest wins, in the order evpn > static > dataplane > unknown.
    """

    vnis: list[int] | None
    state: State
    learning: Learning


VniTable = dict[int, VniInfo]
VtepTable = dict[str, VtepInfo]

VNI_FIELDS: frozenset[str] = frozenset(VniInfo.__annotations__)
VTEP_FIELDS: frozenset[str] = frozenset(VtepInfo.__annotations__)
STATES: frozenset[str] = frozenset(get_args(State))
LEARNINGS: frozenset[str] = frozenset(get_args(Learning))
VNI_TYPES: frozenset[str] = frozenset(get_args(VniType))


def ip_sort_key(address: str) -> tuple[int, int]:
    """Sort key for IP address strings: IPv4 before IPv6, then numerically (10.0.0.9 < 10.0.0.10)."""
    parsed = ipaddress.ip_address(address)
    return (parsed.version, int(parsed))


def _is_canonical_ip(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value).compressed == value
    except ValueError:
        return False


def _optional(value: object, kind: type) -> bool:
    # bool is an int subclass; a VLAN of True would pass isinstance(int) without this.
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _vlan_ok(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4094)


def _ip_list_problems(where: str, value: object, allow_none: bool) -> list[str]:
    if value is None:
        return [] if allow_none else [f"{where}: is None"]
    if not isinstance(value, list) or not all(_is_canonical_ip(item) for item in value):
        return [f"{where}: not a list of canonical IP strings: {value!r}"]
    if value != sorted(value, key=ip_sort_key) or len(set(value)) != len(value):
        return [f"{where}: not sorted/unique: {value!r}"]
    return []


def _vni_problems(vni: object, info: object) -> list[str]:
    where = f"vni {vni!r}"
    problems: list[str] = []
    if not isinstance(vni, int) or isinstance(vni, bool) or not MIN_VNI <= vni <= MAX_VNI:
        problems.append(f"{where}: key is not an int VNI in {MIN_VNI}..{MAX_VNI}")
    if not isinstance(info, Mapping):
        return [*problems, f"{where}: value is a {type(info).__name__}, not a dict"]
    if set(info) != VNI_FIELDS:
        problems.append(f"{where}: keys {sorted(info)} != {sorted(VNI_FIELDS)}")
        return problems
    checks: list[tuple[str, bool]] = [
        ("type", info["type"] in VNI_TYPES),
        ("state", info["state"] in STATES),
        ("learning", info["learning"] in LEARNINGS),
        ("vlan", _vlan_ok(info["vlan"])),
        ("source_ip", info["source_ip"] is None or _is_canonical_ip(info["source_ip"])),
        ("mcast_group", info["mcast_group"] is None or _is_canonical_ip(info["mcast_group"])),
    ]
    checks += [(name, _optional(info[name], str)) for name in ("interface", "source_interface", "vrf",
                                                               "bridge", "svi")]
    problems += [f"{where}: bad {name}: {info[name]!r}" for name, ok in checks if not ok]
    problems += _ip_list_problems(f"{where}: flood_list", info["flood_list"], allow_none=True)
    return problems


def _vtep_problems(address: object, info: object) -> list[str]:
    where = f"vtep {address!r}"
    problems: list[str] = []
    if not _is_canonical_ip(address):
        problems.append(f"{where}: key is not a canonical IP string")
    if not isinstance(info, Mapping):
        return [*problems, f"{where}: value is a {type(info).__name__}, not a dict"]
    if set(info) != VTEP_FIELDS:
        return [*problems, f"{where}: keys {sorted(info)} != {sorted(VTEP_FIELDS)}"]
    vnis = info["vnis"]
    if vnis is not None and (
        not isinstance(vnis, list)
        or not all(isinstance(v, int) and not isinstance(v, bool) and MIN_VNI <= v <= MAX_VNI for v in vnis)
        or vnis != sorted(set(vnis))
    ):
        problems.append(f"{where}: vnis not a sorted unique list of int VNIs: {vnis!r}")
    if info["state"] not in STATES:
        problems.append(f"{where}: bad state {info['state']!r}")
    if info["learning"] not in LEARNINGS:
        problems.append(f"{where}: bad learning {info['learning']!r}")
    return problems


def vni_table_problems(table: object) -> list[str]:
    """Everything in a `get_vxlan_vnis()` result that breaks the contract; `[]` if it is sound."""
    if not isinstance(table, dict):
        return [f"result is a {type(table).__name__}, not a dict"]
    return [problem for vni, info in table.items() for problem in _vni_problems(vni, info)]


def vtep_table_problems(table: object) -> list[str]:
    """Everything in a `get_vxlan_vteps()` result that breaks the contract; `[]` if it is sound."""
    if not isinstance(table, dict):
        return [f"result is a {type(table).__name__}, not a dict"]
    return [problem for address, info in table.items() for problem in _vtep_problems(address, info)]


def sorted_ips(addresses: Iterable[str]) -> list[str]:
    """Unique IP strings in contract order."""
    return sorted(set(addresses), key=ip_sort_key)
