"""The platform x feature matrix.

Which features each platform can carry is data, not scattered `if platform == ...` checks: the validator
turns a missing feature into an intent error, and `vxauto docs` prints this table as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Feature(StrEnum):
    STATIC_FLOOD = "static_flood"
    EVPN = "evpn"
    L3VNI = "l3vni"
    ANYCAST_GATEWAY = "anycast_gateway"
    IPV6_UNDERLAY = "ipv6_underlay"
    CUSTOM_UDP_PORT = "custom_udp_port"


FEATURE_TITLES: dict[Feature, str] = {
    Feature.STATIC_FLOOD: "static flood (ingress replication)",
    Feature.EVPN: "BGP EVPN (type-2/3)",
    Feature.L3VNI: "L3 VNI (symmetric IRB)",
    Feature.ANYCAST_GATEWAY: "anycast gateway",
    Feature.IPV6_UNDERLAY: "IPv6 underlay",
    Feature.CUSTOM_UDP_PORT: "UDP port other than 4789",
}

#: VRF names no platform accepts for a tenant VRF.
RESERVED_VRF_NAMES = frozenset({"default", "mgmt", "management", "master", "global"})


@dataclass(frozen=True)
class Platform:
    """What vxauto knows about one target platform."""

    name: str
    title: str
    features: frozenset[Feature]
    roles: frozenset[str]
    #: VLANs the platform keeps for itself by default (inclusive ranges).
    reserved_vlans: tuple[tuple[int, int], ...] = ()
    #: Linux flavours: the file format used for the kernel side.
    flavours: tuple[str, ...] = ()
    #: Name of the NAPALM driver that manages it (None: render only).
    napalm_driver: str | None = None
    #: The VTEP source interface the platform requires (SR Linux sources VXLAN from system0 only).
    required_vtep_interface: str | None = None
    #: Longest VRF name the platform takes (Linux interface names are 15 bytes; SONiC adds "Vrf-").
    max_vrf_name: int = 32
    reference: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    #: Features a flavour lacks although the platform has them (ifupdown2 3.0: IPv4-only VXLAN attributes).
    flavour_lacks: dict[str, frozenset[Feature]] = field(default_factory=dict)
    #: The vendor's own rule behind a missing feature, quoted in `vxauto check`'s refusal.
    rules: dict[Feature, str] = field(default_factory=dict)
    #: VNIs the platform accepts (inclusive) and the document that says so.
    vni_range: tuple[int, int] = (1, 16_777_215)
    vni_rule: str = "RFC 7348: a 24-bit VXLAN Network Identifier"
    #: Software versions the templates follow (major.minor, inclusive), the one assumed when a host names
    #: none, and why other versions are refused. Empty: one syntax for every version.
    #: The loopback that carries the router ID when it is not the VTEP address, and (if different) the one
    #: used on a VTEP (SR Linux: system0 on a spine, lo0 on a leaf, whose system0 is the VTEP source).
    router_id_interface: str | None = None
    vtep_router_id_interface: str | None = None
    versions: tuple[str, str] | None = None
    default_version: str | None = None
    version_rule: str = ""

    def supports(self, feature: Feature) -> bool:
        return feature in self.features

    def features_for(self, flavour: str | None) -> frozenset[Feature]:
        """The features of the platform as configured with `flavour` (default: the first flavour)."""
        chosen = flavour or (self.flavours[0] if self.flavours else "")
        return self.features - self.flavour_lacks.get(chosen, frozenset())

    def supports_version(self, version: str) -> bool:
        if self.versions is None:
            return True
        low, high = (_version_key(v) for v in self.versions)
        return low <= _version_key(version) <= high

    def reserved_vlan(self, vlan: int) -> tuple[int, int] | None:
        for first, last in self.reserved_vlans:
            if first <= vlan <= last:
                return (first, last)
        return None


_ALL = frozenset(Feature)
_SWITCH_ROLES = frozenset({"leaf", "spine"})
_NO_V6 = _ALL - {Feature.IPV6_UNDERLAY}

PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            "eos", "Arista EOS", _NO_V6, _SWITCH_ROLES, napalm_driver="eos", router_id_interface="Loopback0",
            reference="Arista EOS User Manual, VXLAN and EVPN chapters",
        ),
        Platform(
            "nxos", "Cisco NX-OS", _NO_V6 - {Feature.CUSTOM_UDP_PORT}, _SWITCH_ROLES, reserved_vlans=((3968, 4094),),
            napalm_driver="nxos", router_id_interface="loopback0",
            reference="Cisco Nexus 9000 NX-OS VXLAN Configuration Guide",
            rules={Feature.CUSTOM_UDP_PORT: (
                "Cisco Nexus 9000 Series NX-OS VXLAN Configuration Guide, \"Guidelines and Limitations for "
                "VXLAN\": the VXLAN UDP port number is 4789 and is not configurable")},
            vni_range=(4096, 16_773_119),
            vni_rule=("Cisco NX-OS vn-segment range 4096-16773119 (cisco.nxos.nxos_vlan, Cisco's Ansible "
                      "collection: mapped_vni \"Range 4096-16773119\")"),
        ),
        Platform(
            "junos", "Juniper Junos (QFX)", _NO_V6, _SWITCH_ROLES, napalm_driver="junos", router_id_interface="lo0",
            reference="Junos EVPN User Guide / VXLAN (switch-options, vlans)",
            vni_range=(1, 16_777_214),
            vni_rule="Junos `vxlan vni` takes 1..16777214 (Junos CLI reference, vxlan statement)",
        ),
        Platform(
            "srlinux", "Nokia SR Linux", _NO_V6 - {Feature.STATIC_FLOOD, Feature.CUSTOM_UDP_PORT}, _SWITCH_ROLES,
            required_vtep_interface="system0", router_id_interface="system0", vtep_router_id_interface="lo0",
            reference="Nokia SR Linux EVPN-VXLAN Guide",
        ),
        Platform(
            "cumulus", "NVIDIA Cumulus Linux (NVUE)", _NO_V6, _SWITCH_ROLES,
            reserved_vlans=((3725, 3999),), max_vrf_name=15, router_id_interface="lo",
            reference="NVIDIA Cumulus Linux User Guide: Network Virtualization (NVUE)",
            versions=("5.0", "5.14"), default_version="5.12",
            version_rule=("the template writes the NVUE object model of Cumulus Linux 5.0-5.14 (`enable: on`); "
                          "later releases renamed it (`state: enabled`, Cumulus Linux 5.15 \"New and Changed "
                          "NVUE Commands\")"),
        ),
        Platform(
            "sonic", "SONiC (config_db)",
            frozenset({Feature.EVPN, Feature.L3VNI}), _SWITCH_ROLES, reserved_vlans=((1, 1),), max_vrf_name=11,
            router_id_interface="Loopback0",
            reference="SONiC EVPN VXLAN HLD (VXLAN_TUNNEL, VXLAN_TUNNEL_MAP, EVPN_NVO)",
        ),
        Platform(
            "frr", "FRR + Linux kernel VXLAN", _NO_V6, _SWITCH_ROLES, napalm_driver="frr", max_vrf_name=15,
            router_id_interface="lo", reference="FRR User Guide: BGP EVPN; ip-link(8) vxlan, bridge(8)",
        ),
        Platform(
            "linux", "Linux host (kernel VXLAN)",
            frozenset({Feature.STATIC_FLOOD, Feature.IPV6_UNDERLAY, Feature.CUSTOM_UDP_PORT}),
            frozenset({"leaf", "host"}), max_vrf_name=15,
            flavours=("iproute2", "ifupdown2", "networkd", "netplan"), napalm_driver="frr", router_id_interface="lo",
            reference="ip-link(8), bridge(8), ifupdown2, systemd.netdev(5), netplan YAML",
            # ifupdown2 3.0 (Debian 12): vxlan-local-tunnelip and vxlan-remoteip take IPv4 addresses only.
            flavour_lacks={"ifupdown2": frozenset({Feature.IPV6_UNDERLAY})},
        ),
        Platform(
            "pyvtep", "pyvtep (vxauto's Python software VTEP)",
            frozenset({Feature.STATIC_FLOOD, Feature.EVPN, Feature.CUSTOM_UDP_PORT}), frozenset({"leaf"}),
            router_id_interface="lo", reference="docs/pyvtep.md (configuration), RFC 7348",
        ),
        Platform(
            "ovs", "Open vSwitch",
            frozenset({Feature.STATIC_FLOOD, Feature.IPV6_UNDERLAY, Feature.CUSTOM_UDP_PORT}), frozenset({"leaf"}),
            router_id_interface="lo", reference="ovs-vswitchd.conf.db(5) Interface type vxlan, ovs-vsctl(8)",
        ),
    )
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def platform(name: str) -> Platform:
    """Look a platform up; unknown names are caught by the schema before this is called."""
    return PLATFORMS[name]
