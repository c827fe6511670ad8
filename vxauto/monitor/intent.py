"""What the intent says the overlay should look like, in the shape the traffic checks need."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vxauto.model.fabric import Fabric


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    tenant: str
    layer: str  # "l2" (a segment) or "l3" (a tenant's L3 VNI)


@dataclass(frozen=True)
class IntentView:
    """Per VTEP address: its device, its VNIs and, per VNI, the flood peers it must replicate BUM to."""

    fabric: str
    udp_port: int
    overlay_mtu: int
    underlay_mtu: int
    vtep_names: dict[str, str] = field(default_factory=dict)  # VTEP IP -> device name
    vnis_by_vtep: dict[str, frozenset[int]] = field(default_factory=dict)
    flood_peers: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)  # (VTEP IP, VNI)
    segments: dict[int, SegmentInfo] = field(default_factory=dict)  # VNI -> segment or L3 VNI

    @classmethod
    def from_fabric(cls, fabric: Fabric) -> IntentView:
        settings = fabric.intent.fabric
        names: dict[str, str] = {}
        vnis: dict[str, frozenset[int]] = {}
        peers: dict[tuple[str, int], tuple[str, ...]] = {}
        for name, device in fabric.devices.items():
            if device.vtep_ip is None:
                continue
            address = _normal(device.vtep_ip)
            names[address] = name
            carried = {s.vni for s in device.segments} | {v.l3vni for v in device.vrfs if v.l3vni is not None}
            vnis[address] = frozenset(carried)
            for segment in device.segments:
                peers[(address, segment.vni)] = tuple(_normal(p) for p in segment.flood_peers)
        segments = {s.vni: SegmentInfo(s.name, s.tenant, "l2") for s in fabric.intent.segments}
        for tenant in fabric.intent.tenants:
            if tenant.l3vni is not None:
                segments[tenant.l3vni] = SegmentInfo(f"{tenant.name} (L3 VNI)", tenant.name, "l3")
        return cls(settings.name, settings.udp_port, settings.overlay_mtu, settings.underlay_mtu, names, vnis,
                   peers, segments)

    @classmethod
    def load(cls, directory: Path | str) -> IntentView:
        # Imported here: the model (pydantic schema) costs a quarter second, and reading a capture
        # without an intent does not need it.
        from vxauto.model.fabric import load_fabric

        return cls.from_fabric(load_fabric(directory))

    def tenant_of(self, vni: int) -> str | None:
        info = self.segments.get(vni)
        return info.tenant if info else None

    def name_of(self, address: str) -> str | None:
        return self.vtep_names.get(address)


def _normal(address: str) -> str:
    return str(ipaddress.ip_address(address))
