"""One record per platform: everything vxauto knows about a target, as data.

Which features each platform can carry, its VNI range and releases, the files it is rendered into and
whether they form a directory, which NAPALM driver and show-output parser manage it, and the interface
names the fabric generator uses are fields of one `Platform`, not scattered `if platform == ...` checks:
the validator turns a missing feature into an intent error, `vxauto docs` prints the table as it is, the
renderer reads `outputs`, and the device layer maps `napalm_driver` to a driver class.

A new platform is one record plus its `templates/<platform>/` folder: `register_platform(record,
templates=folder_holding_<platform>/)` (docs/ARCHITECTURE.md, "Adding a platform").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


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
class Output:
    """One configuration file of a platform and what writes it (exactly one of the three).

    `template`: a Jinja template path under a templates directory. `builder`: "module:function" taking the
    DeviceFacts and returning the text, for JSON/YAML formats dumped from Python data. `planner`:
    "module:function" taking the DeviceFacts and returning the render engine's OutputFile list, for a
    flavour whose set of files depends on the intent (systemd-networkd: one file per link).
    """

    name: str = ""
    template: str | None = None
    builder: str | None = None
    planner: str | None = None
    #: The file is a kernel script (iproute2 vocabulary): the rendered configuration then carries its target
    #: kernel state (model/kernel_state.py), which the FRR driver deploys.
    kernel: bool = False


@dataclass(frozen=True)
class MultisiteDesign:
    """A platform's documented way of joining sites at a border host (fabric.yaml `sites[].borders`).

    `gateway`: the border is a VTEP that terminates the overlay of its site and re-originates EVPN routes
    toward the other sites (Arista's EVPN gateway, Cisco's Multi-Site BGW); otherwise it relays one overlay
    across the DCI with the next hop unchanged (FRR). `document` is named in the template and in `vxauto
    check`'s refusals; `multihop` is the TTL of the loopback-to-loopback session to remote gateways.
    """

    name: str
    title: str
    document: str
    gateway: bool
    multihop: int = 0


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
    #: The one rendered file the NAPALM driver loads when the platform renders several (pyvtep: pyvtep.yaml;
    #: its interfaces.sh sets up the host once). None: the driver loads everything rendered.
    napalm_file: str | None = None
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
    #: The files a device of the platform is rendered into; per flavour (Linux) and per role (a Linux host
    #: gets an endpoint script) where they differ. Empty: render only what `flavour_outputs`/`role_outputs` say.
    outputs: tuple[Output, ...] = ()
    flavour_outputs: dict[str, tuple[Output, ...]] = field(default_factory=dict)
    role_outputs: dict[str, tuple[Output, ...]] = field(default_factory=dict)
    #: Written as a `<host>/` directory even when it is one file (FRR: frr.conf plus the kernel script);
    #: `directory_flavours` the same for some flavours only (a one-file output is `<host>.<ext>` otherwise).
    directory: bool = False
    directory_flavours: frozenset[str] = frozenset()
    #: Name of the show-output parser module of the device layer (None: none; validation via the driver).
    parser: str | None = None
    #: For `vxauto fabric generate`: (underlay port pattern, VTEP loopback); the pattern takes {n} (1-based
    #: port), {m} (0-based) and {k} ((n-1)*4, SONiC's lane-numbered ports). None: not generated.
    interface_names: tuple[str, str] | None = None
    #: BGP is FRR's bgpd, which advertises a new VNI or VRF under an automatic RD `<router-id>:<index>` until the
    #: configured one replaces it: the model renders RDs outside that range (derive.route_distinguisher).
    automatic_rds: bool = False
    #: How a border host of this platform joins sites (None: vxauto renders no border for it; `multisite_rule`
    #: says why, quoted in `vxauto check`'s refusal).
    multisite: MultisiteDesign | None = None
    multisite_rule: str = ""

    def outputs_for(self, role: str, flavour: str | None) -> tuple[Output, ...]:
        """The files of a device with this role and flavour."""
        if role in self.role_outputs:
            return self.role_outputs[role]
        return self.flavour_outputs.get(flavour or "", self.outputs)

    def is_directory(self, role: str, flavour: str | None) -> bool:
        """Whether the device's files always form a `<host>/` directory."""
        return self.directory or (role not in self.role_outputs and flavour in self.directory_flavours)

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

EOS_EVPN_GATEWAY = MultisiteDesign(
    "evpn-gateway", "EVPN gateway (multi-domain EVPN VXLAN)",
    "Arista AVD eos_designs evpn_gateway (\"EVPN Multi-Domain Gateway\": remote_peers, evpn_l2, evpn_l3) as "
    "eos_cli_config_gen renders it (router-bgp.j2: domain remote, rd/route-target evpn domain remote); EOS "
    "multi-domain EVPN VXLAN",
    gateway=True, multihop=15,  # AVD's evpn_ebgp_gateway_multihop default
)
NXOS_MULTISITE_BGW = MultisiteDesign(
    "multisite-bgw", "VXLAN EVPN Multi-Site border gateway",
    "Cisco Nexus 9000 Series NX-OS VXLAN Configuration Guide, chapter \"Configuring VXLAN EVPN Multi-Site\"",
    gateway=True, multihop=5,  # the guide's site-external overlay example (ebgp-multihop 5)
)
FRR_EVPN_TRANSIT = MultisiteDesign(
    "evpn-transit", "one EVPN overlay across the DCI (no border gateway)",
    "FRR User Guide, \"BGP EVPN\" (eBGP EVPN peering; the border passes routes on with the next hop unchanged)",
    gateway=False,
)
_NO_MULTISITE_BGP = "it has no BGP EVPN control plane to join sites with"

PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            "eos", "Arista EOS", _NO_V6, _SWITCH_ROLES, napalm_driver="eos", router_id_interface="Loopback0",
            reference="Arista EOS User Manual, VXLAN and EVPN chapters",
            outputs=(Output("config.cfg", "eos/vxlan.j2"),), parser="eos",
            interface_names=("Ethernet{n}", "Loopback1"), multisite=EOS_EVPN_GATEWAY,
        ),
        Platform(
            "nxos", "Cisco NX-OS", _NO_V6 - {Feature.CUSTOM_UDP_PORT}, _SWITCH_ROLES, reserved_vlans=((3968, 4094),),
            napalm_driver="nxos", router_id_interface="loopback0",
            reference="Cisco Nexus 9000 NX-OS VXLAN Configuration Guide",
            outputs=(Output("config.cfg", "nxos/vxlan.j2"),), parser="nxos",
            interface_names=("Ethernet1/{n}", "loopback1"),
            rules={Feature.CUSTOM_UDP_PORT: (
                "Cisco Nexus 9000 Series NX-OS VXLAN Configuration Guide, \"Guidelines and Limitations for "
                "VXLAN\": the VXLAN UDP port number is 4789 and is not configurable")},
            vni_range=(4096, 16_773_119),
            vni_rule=("Cisco NX-OS vn-segment range 4096-16773119 (cisco.nxos.nxos_vlan, Cisco's Ansible "
                      "collection: mapped_vni \"Range 4096-16773119\")"),
            multisite=NXOS_MULTISITE_BGW,
        ),
        Platform(
            "junos", "Juniper Junos (QFX)", _NO_V6, _SWITCH_ROLES, napalm_driver="junos", router_id_interface="lo0",
            reference="Junos EVPN User Guide / VXLAN (switch-options, vlans)",
            outputs=(Output("config.conf", "junos/vxlan.j2"),), parser="junos", interface_names=("xe-0/0/{m}", "lo0"),
            vni_range=(1, 16_777_214),
            vni_rule="Junos `vxlan vni` takes 1..16777214 (Junos CLI reference, vxlan statement)",
        ),
        Platform(
            "srlinux", "Nokia SR Linux", _NO_V6 - {Feature.STATIC_FLOOD, Feature.CUSTOM_UDP_PORT}, _SWITCH_ROLES,
            required_vtep_interface="system0", router_id_interface="system0", vtep_router_id_interface="lo0",
            reference="Nokia SR Linux EVPN-VXLAN Guide",
            # containerlab applies an SR Linux startup-config as CLI commands only when the file ends in .cli.
            outputs=(Output("config.cli", "srlinux/vxlan.j2"),), interface_names=("ethernet-1/{n}", "system0"),
        ),
        Platform(
            "cumulus", "NVIDIA Cumulus Linux (NVUE)", _NO_V6, _SWITCH_ROLES,
            reserved_vlans=((3725, 3999),), max_vrf_name=15, router_id_interface="lo",
            reference="NVIDIA Cumulus Linux User Guide: Network Virtualization (NVUE)",
            outputs=(Output("config.yaml", builder="vxauto.render.nvue:render"),),
            interface_names=("swp{n}", "lo"), automatic_rds=True,  # Cumulus Linux routes with FRR
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
            outputs=(Output("config_db.json", builder="vxauto.render.sonic:render"),),
            interface_names=("Ethernet{k}", "Loopback0"), automatic_rds=True,  # SONiC's bgp container runs FRR
        ),
        Platform(
            "frr", "FRR + Linux kernel VXLAN", _NO_V6, _SWITCH_ROLES, napalm_driver="frr", max_vrf_name=15,
            router_id_interface="lo", reference="FRR User Guide: BGP EVPN; ip-link(8) vxlan, bridge(8)",
            outputs=(Output("frr.conf", "frr/frr.conf.j2"),
                     Output("interfaces.sh", "linux/iproute2.sh.j2", kernel=True)),
            directory=True, parser="frr", interface_names=("eth{n}", "lo"), automatic_rds=True,
            multisite=FRR_EVPN_TRANSIT,
        ),
        Platform(
            "linux", "Linux host (kernel VXLAN)",
            frozenset({Feature.STATIC_FLOOD, Feature.IPV6_UNDERLAY, Feature.CUSTOM_UDP_PORT}),
            frozenset({"leaf", "host"}), max_vrf_name=15,
            flavours=("iproute2", "ifupdown2", "networkd", "netplan"), napalm_driver="frr", router_id_interface="lo",
            reference="ip-link(8), bridge(8), ifupdown2, systemd.netdev(5), netplan YAML",
            # ifupdown2 3.0 (Debian 12): vxlan-local-tunnelip and vxlan-remoteip take IPv4 addresses only.
            flavour_lacks={"ifupdown2": frozenset({Feature.IPV6_UNDERLAY})},
            flavour_outputs={
                "iproute2": (Output("vxlan.sh", "linux/iproute2.sh.j2", kernel=True),),
                "ifupdown2": (Output("interfaces", "linux/ifupdown2.j2"),),
                "networkd": (Output(planner="vxauto.render.engine:networkd_outputs"),),
                "netplan": (Output(planner="vxauto.render.engine:netplan_outputs"),),
            },
            role_outputs={"host": (Output("endpoint.sh", "linux/endpoint.sh.j2", kernel=True),)},
            # networkd's file count and netplan's (a flood drop-in per static segment) depend on the intent, so
            # a host's output would change shape; the ifupdown2 file is `interfaces`, which has no extension to
            # make `<host><ext>` of.
            directory_flavours=frozenset({"ifupdown2", "networkd", "netplan"}), parser="iproute2",
            multisite_rule=_NO_MULTISITE_BGP,
        ),
        Platform(
            "pyvtep", "pyvtep (vxauto's Python software VTEP)",
            frozenset({Feature.STATIC_FLOOD, Feature.EVPN, Feature.CUSTOM_UDP_PORT}), frozenset({"leaf"}),
            router_id_interface="lo", reference="docs/pyvtep.md (configuration), RFC 7348",
            napalm_driver="pyvtep", napalm_file="pyvtep.yaml",
            outputs=(Output("pyvtep.yaml", "pyvtep/pyvtep.yaml.j2"),
                     Output("interfaces.sh", "pyvtep/interfaces.sh.j2")),
            interface_names=("eth{n}", "lo"),
            multisite_rule="pyvtep is a leaf VTEP only (docs/pyvtep.md): it neither relays nor re-originates EVPN "
                           "routes between sites",
        ),
        Platform(
            "ovs", "Open vSwitch",
            frozenset({Feature.STATIC_FLOOD, Feature.IPV6_UNDERLAY, Feature.CUSTOM_UDP_PORT}), frozenset({"leaf"}),
            router_id_interface="lo", reference="ovs-vswitchd.conf.db(5) Interface type vxlan, ovs-vsctl(8)",
            outputs=(Output("config.sh", "ovs/vxlan.sh.j2"),), multisite_rule=_NO_MULTISITE_BGP,
        ),
    )
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def platform(name: str) -> Platform:
    """Look a platform up; unknown names are caught by the schema before this is called."""
    return PLATFORMS[name]


#: Template directories of registered platforms, searched after the main templates directory.
TEMPLATE_PATHS: list[Path] = []


def register_platform(record: Platform, templates: Path | None = None) -> Platform:
    """Add a platform: its record, and the directory holding its `<name>/` template folder (if not in the
    main templates directory). Register before loading an inventory that names it."""
    if record.name in PLATFORMS:
        raise ValueError(f"platform {record.name!r} is already registered")
    PLATFORMS[record.name] = record
    if templates is not None and templates not in TEMPLATE_PATHS:
        TEMPLATE_PATHS.append(templates)
    return record


def unregister_platform(name: str, templates: Path | None = None) -> None:
    """Remove a registered platform (and its template directory) again."""
    PLATFORMS.pop(name, None)
    if templates in TEMPLATE_PATHS:
        TEMPLATE_PATHS.remove(templates)
