"""The intent schema: what a user writes in `inventory/`.

Schema first (like pyavd): every field is typed and bounded here, so templates never have to guard
against missing or odd data. Unknown keys are errors, not silently ignored typos. `vxauto schema`
prints the JSON Schema of `FabricIntent` and `HostIntent` for editors.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from vxauto.model.platforms import PLATFORMS

# Names end up as VRF, VLAN, interface and file names on many platforms: a conservative alphabet keeps
# one name valid everywhere and makes it impossible to smuggle a second config line in through a name.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
# Descriptions may contain spaces, but nothing that ends a line, quotes or comments out the rest of it.
DESCRIPTION_PATTERN = r"^[A-Za-z0-9 _.,:/()@+=-]{0,120}$"
INTERFACE_PATTERN = r"^[A-Za-z][A-Za-z0-9_./:-]{0,31}$"
MAC_PATTERN = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"
ROUTE_TARGET_PATTERN = re.compile(r"^(\d+):(\d+)$")

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Description = Annotated[str, StringConstraints(pattern=DESCRIPTION_PATTERN)]
InterfaceName = Annotated[str, StringConstraints(pattern=INTERFACE_PATTERN)]
MacAddress = Annotated[str, StringConstraints(pattern=MAC_PATTERN, to_lower=True)]
Vni = Annotated[int, Field(ge=1, le=16_777_215, strict=True)]
VlanId = Annotated[int, Field(ge=1, le=4094, strict=True)]
Asn = Annotated[int, Field(ge=1, le=4_294_967_295, strict=True)]
FloodMode = Literal["static", "evpn"]


def _ip_address(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an IP address string")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4/IPv6 address") from None


def _ipv4_address(value: str) -> str:
    address = _ip_address(value)
    if ipaddress.ip_address(address).version != 4:
        raise ValueError(f"{value!r} is not an IPv4 address")
    return address


def _ip_interface(value: str) -> str:
    if not isinstance(value, str) or "/" not in value:
        raise ValueError("must be an address with prefix length, e.g. 10.1.1.0/31")
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid address/prefix") from None


def _route_target(value: str) -> str:
    match = ROUTE_TARGET_PATTERN.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("must be ASN:NN, e.g. 65000:10010")
    asn, number = (int(group) for group in match.groups())
    # Two-octet AS specific RT: 2-byte ASN + 4-byte number, or 4-byte ASN + 2-byte number (RFC 4360, 5668).
    if not ((1 <= asn <= 65535 and number <= 4_294_967_295) or (asn <= 4_294_967_295 and number <= 65535)):
        raise ValueError("does not fit an extended community (2-byte ASN:4-byte or 4-byte ASN:2-byte)")
    return value


IpAddress = Annotated[str, AfterValidator(_ip_address)]
RouterId = Annotated[str, AfterValidator(_ipv4_address)]
IpInterface = Annotated[str, AfterValidator(_ip_interface)]
RouteTarget = Annotated[str, AfterValidator(_route_target)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- fabric.yaml ---------------------------------------------------------------------------------------


class FabricSettings(Strict):
    name: Name
    asn: Asn = Field(description="Fabric ASN: the administrator field of every derived route target.")
    flood: FloodMode = Field("evpn", description="Default BUM handling for segments.")
    udp_port: int = Field(4789, ge=1, le=65535, strict=True)
    underlay_mtu: int = Field(9100, ge=1280, le=9216, strict=True)
    overlay_mtu: int = Field(1500, ge=576, le=9166, strict=True)
    anycast_mac: MacAddress = "00:1c:73:00:00:01"


class Tenant(Strict):
    name: Name
    description: Description | None = None
    vrf: Name | None = Field(None, description="VRF name on the devices (default: the tenant name).")
    l3vni: Vni | None = None
    l3vlan: VlanId | None = Field(None, description="VLAN carrying the L3 VNI (needed with l3vni).")

    @property
    def vrf_name(self) -> str:
        return self.vrf or self.name


class Attach(Strict):
    hosts: list[Name] = []
    groups: list[Name] = []


class Segment(Strict):
    name: Name
    vlan: VlanId
    vni: Vni
    tenant: Name
    description: Description | None = None
    attach: Literal["all"] | Attach = "all"
    flood: FloodMode | None = Field(None, description="Overrides fabric.flood for this segment.")
    route_target: RouteTarget | None = Field(None, description="Default: fabric.asn:vni.")
    gateway: IpInterface | None = Field(None, description="Anycast gateway address with prefix.")
    local_vlans: dict[Name, VlanId] = Field(
        default_factory=dict, description="Per-host VLAN overrides (VLANs are locally significant)."
    )


class Site(Strict):
    """A data centre of a multi-site fabric: its hosts name it in `data.site`; underlay links between hosts of
    different sites are the DCI links, and the hosts at their ends are the site's borders."""

    name: Name
    description: Description | None = None
    borders: list[Name] = Field(
        default_factory=list, description="Hosts of this site at the ends of the DCI links (border role)."
    )
    route_targets: dict[Name, RouteTarget] = Field(
        default_factory=dict,
        description="Segment -> route target used inside this site (a vendor multi-site design with "
        "per-site RTs rewritten at the border); default: the segment's fabric-wide RT.",
    )
    id: int | None = Field(
        None, ge=1, strict=True,
        description="Site ID of the site's border gateways (NX-OS `evpn multisite border-gateway`); default: the "
        "site's position in `sites`, counted from 1.",
    )
    border_vip: IpAddress | None = Field(
        None, description="Address the site's border gateways share toward the other sites (NX-OS Multi-Site "
        "virtual IP, on a loopback of its own); needed by NX-OS borders.",
    )


class MobileEndpoint(Strict):
    """A workload (VM) that keeps its MAC and IP wherever it runs: behind any VTEP carrying its segment."""

    name: Name
    segment: Name
    mac: MacAddress
    ip: IpInterface
    vteps: list[Name] = Field(
        default_factory=list,
        description="VTEPs it may sit behind (default: every VTEP that carries the segment).",
    )


class FabricIntent(Strict):
    fabric: FabricSettings
    tenants: list[Tenant] = []
    segments: list[Segment] = []
    sites: list[Site] = []
    mobile: list[MobileEndpoint] = Field(default_factory=list, description="Mobile endpoints (VMs).")


# --- hosts.yaml / groups.yaml / defaults.yaml `data:` -------------------------------------------------


class Vtep(Strict):
    interface: InterfaceName = Field(description="VTEP source interface, e.g. Loopback1, lo, nve source.")
    ip: IpAddress


class UnderlayLink(Strict):
    interface: InterfaceName
    ip: IpInterface
    peer: Name
    mtu: int | None = Field(None, ge=1280, le=9216, strict=True)


class AccessPort(Strict):
    interface: InterfaceName
    segment: Name | None = None
    segments: list[Name] = Field(default_factory=list, description="Trunk: tagged segments.")


class Endpoint(Strict):
    """An address a (non-VTEP) host has in a segment: used by data-plane validation."""

    interface: InterfaceName
    segment: Name
    ip: IpInterface


Role = Literal["leaf", "spine", "host"]
LinuxFlavour = Literal["iproute2", "ifupdown2", "networkd", "netplan"]


class HostData(Strict):
    """The vxauto part of a Nornir host's `data` (after group and default inheritance)."""

    role: Role
    site: Name | None = Field(None, description="The site (fabric.yaml sites) this host belongs to.")
    asn: Asn | None = None
    router_id: RouterId | None = None
    vtep: Vtep | None = None
    flavour: LinuxFlavour | None = None
    version: Annotated[str, StringConstraints(pattern=r"^\d{1,3}\.\d{1,3}(\.\d{1,4})?$")] | None = Field(
        None, description="Software release the configuration is for (major.minor); platforms whose syntax "
                          "changed between releases render for it or refuse it (vxauto check).")
    description: Description | None = None
    underlay: list[UnderlayLink] = []
    ports: list[AccessPort] = []
    endpoints: list[Endpoint] = []


def _known_platform(value: str) -> str:
    # Checked against the registry when the host is validated (not when this module was imported), so a
    # platform registered with `register_platform` is accepted.
    if value not in PLATFORMS:
        raise ValueError(f"Input should be {', '.join(repr(name) for name in PLATFORMS)}")
    return value


def _platform_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = list(PLATFORMS)


PlatformName = Annotated[str, AfterValidator(_known_platform), Field(json_schema_extra=_platform_enum)]


class HostIntent(Strict):
    """One resolved inventory host: Nornir's own fields plus validated vxauto data."""

    name: Name
    hostname: str | None = None
    platform: PlatformName
    groups: list[Name] = []
    data: HostData
