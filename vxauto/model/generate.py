"""Synthetic, valid inventories for benchmarks, scale tests and demos (`vxauto fabric generate`).

The generated fabric is a 2-tier Clos: `spines` spines, `leaves` leaves (platforms round-robin), one eBGP
ASN per leaf, a /31 per leaf-spine link. Segment i is attached to `span` consecutive leaves starting at
leaf (i * span) mod leaves (all leaves when span is 0), which keeps static flood lists realistic.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from vxauto.errors import VxautoError
from vxauto.model.platforms import PLATFORMS, Feature


def interface_names() -> dict[str, tuple[str, str]]:
    """Platform -> (underlay port pattern, VTEP loopback) of every platform the generator can write
    (`Platform.interface_names` of the platform records, registered platforms included)."""
    return {name: p.interface_names for name, p in PLATFORMS.items() if p.interface_names is not None}


@dataclass(frozen=True)
class GenerateOptions:
    leaves: int
    vnis: int
    platforms: tuple[str, ...] = ("frr",)
    flood: str = "evpn"
    spines: int = 2
    span: int = 0
    tenants: int = 4
    name: str = "generated"


def interface_name(platform: str, n: int) -> str:
    pattern = interface_names()[platform][0]
    return pattern.format(n=n, m=n - 1, k=(n - 1) * 4)


def _check(options: GenerateOptions) -> None:
    problems = []
    names = interface_names()
    for platform in options.platforms:
        if platform not in names:
            problems.append(f"--platforms: {platform!r} cannot be generated (choose from {', '.join(names)})")
        elif options.flood == "static" and not PLATFORMS[platform].supports(Feature.STATIC_FLOOD):
            problems.append(f"--platforms: {platform} does not support static flooding")
    if not 1 <= options.leaves <= 4000:
        problems.append(f"--leaves: {options.leaves} is outside 1..4000")
    if not 1 <= options.spines <= 64:
        problems.append(f"--spines: {options.spines} is outside 1..64")
    if not 1 <= options.tenants <= options.vnis:
        problems.append(f"--tenants: {options.tenants} must be between 1 and the number of VNIs")
    if problems:
        raise VxautoError.single("fabric generate", "", "; ".join(problems))


def _usable_vlans(platforms: tuple[str, ...]) -> Iterator[int]:
    for vlan in range(2, 4095):
        if not any(PLATFORMS[p].reserved_vlan(vlan) for p in platforms):
            yield vlan


def generate(options: GenerateOptions) -> dict[str, dict]:
    """Return the four inventory files as data: fabric, hosts, groups, defaults."""
    _check(options)
    vlans = list(_usable_vlans(options.platforms))
    if options.vnis > len(vlans):
        raise VxautoError.single(
            "fabric generate", "--vnis", f"at most {len(vlans)} segments fit the usable VLANs", options.vnis
        )
    leaf_names = [f"leaf{i + 1}" for i in range(options.leaves)]
    spine_platform = options.platforms[0]
    hosts: dict[str, dict] = {}
    links = _links(options)
    for s in range(options.spines):
        name = f"spine{s + 1}"
        hosts[name] = {
            "hostname": str(ipaddress.ip_address("172.31.0.10") + s),
            "platform": spine_platform,
            "groups": ["spines"],
            "data": {
                "router_id": str(ipaddress.ip_address("10.255.0.1") + s),
                "underlay": [
                    {"interface": interface_name(spine_platform, leaf + 1), "ip": links[(s, leaf)][0],
                     "peer": leaf_names[leaf]}
                    for leaf in range(options.leaves)
                ],
            },
        }
    for leaf, name in enumerate(leaf_names):
        platform = options.platforms[leaf % len(options.platforms)]
        address = str(ipaddress.ip_address("10.254.0.1") + leaf)
        hosts[name] = {
            "hostname": str(ipaddress.ip_address("172.31.1.0") + leaf + 1),
            "platform": platform,
            "groups": ["leaves"],
            "data": {
                "asn": 4_200_000_000 + leaf + 1 if options.leaves > 900 else 65101 + leaf,
                "router_id": address,
                "vtep": {"interface": interface_names()[platform][1], "ip": address},
                "underlay": [
                    {"interface": interface_name(platform, s + 1), "ip": links[(s, leaf)][1],
                     "peer": f"spine{s + 1}"}
                    for s in range(options.spines)
                ],
            },
        }
    tenants = [{"name": f"tenant{t + 1}"} for t in range(options.tenants)]
    segments = []
    span = options.span or options.leaves
    for i in range(options.vnis):
        segment: dict = {
            "name": f"seg{i + 1}",
            "vlan": vlans[i],
            "vni": 10000 + vlans[i],
            "tenant": tenants[i % options.tenants]["name"],
        }
        if span < options.leaves:
            first = (i * span) % options.leaves
            segment["attach"] = {"hosts": [leaf_names[(first + k) % options.leaves] for k in range(span)]}
        else:
            segment["attach"] = "all"
        segments.append(segment)
    fabric = {
        "fabric": {"name": options.name, "asn": 65000, "flood": options.flood},
        "tenants": tenants,
        "segments": segments,
    }
    groups = {"spines": {"data": {"role": "spine", "asn": 65000}}, "leaves": {"data": {"role": "leaf"}}}
    return {"fabric": fabric, "hosts": hosts, "groups": groups, "defaults": {"username": "admin"}}


def _links(options: GenerateOptions) -> dict[tuple[int, int], tuple[str, str]]:
    """(spine, leaf) -> (spine side, leaf side) addresses of the /31 between them."""
    base = int(ipaddress.ip_address("10.0.0.0"))
    links = {}
    for s in range(options.spines):
        for leaf in range(options.leaves):
            low = base + ((s * options.leaves + leaf) << 1)
            links[(s, leaf)] = (f"{ipaddress.ip_address(low)}/31", f"{ipaddress.ip_address(low + 1)}/31")
    return links


def write_inventory(files: dict[str, dict], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        path = out_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=200), encoding="utf-8")
        written.append(path)
    return written
