"""The pyvtep configuration file (YAML), validated with pydantic; errors name file, path and line.

See docs/pyvtep.md for the format. A minimal file:

    local_ip: 10.0.0.1
    vnis:
      - vni: 10010
        flood: [10.0.0.2]

The underlay may be IPv6 instead (`local_ip: fd00::1`, flood and static remotes IPv6 too): VXLAN over
UDP/IPv6 as RFC 7348 allows, 20 bytes more outer overhead, always with UDP checksums (RFC 8200).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, ValidationError, field_validator, model_validator

from vxauto.errors import Problem, VxautoError
from vxauto.model.loader import problems_from_validation
from vxauto.model.yamlsource import YamlSource, format_path, load_yaml_file, load_yaml_text
from vxauto.vtep.packet import IANA_VXLAN_PORT, VNI_MAX, mac_bytes, tap_mtu_overhead

IFNAME_MAX = 15
DEFAULT_SOCKET_DIR = Path("/run/pyvtep")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticMac(_Strict):
    """A MAC pinned behind a remote VTEP: never learned over, never aged."""

    mac: str
    remote: IPvAnyAddress

    @field_validator("mac")
    @classmethod
    def _valid_mac(cls, value: str) -> str:
        try:
            return mac_bytes(value).hex(":")
        except ValueError as exc:
            raise ValueError(str(exc)) from None


class VniConfig(_Strict):
    """One VXLAN segment: its TAP, static ingress-replication list and static MACs."""

    vni: int = Field(ge=1, le=VNI_MAX)
    tap: str | None = Field(default=None, description="TAP name; default pv<vni>")
    bridge: str | None = Field(default=None, description="existing Linux bridge to attach the TAP to")
    address: IPv4Interface | None = Field(default=None, description="IP address on the TAP (labs)")
    mtu: int | None = Field(default=None, ge=68, description="TAP MTU; default underlay_mtu - 50")
    flood: list[IPvAnyAddress] = Field(default_factory=list,
                                                   description="static ingress replication list")
    macs: list[StaticMac] = Field(default_factory=list)
    learning: bool = True
    inner_vlan: Literal["drop", "carry"] = "drop"
    route_target: str | None = Field(default=None, description="EVPN RT, ASN:NN; default <asn>:<vni>")
    group: IPv4Address | IPv6Address | None = Field(
        default=None, description="multicast underlay: BUM traffic goes to (and is received from) this group, "
        "like kernel VXLAN's `group` (IPv4 224.0.0.0/4 or IPv6 ff00::/8, the underlay's family)")

    @field_validator("group")
    @classmethod
    def _multicast(cls, value: IPv4Address | IPv6Address | None) -> IPv4Address | IPv6Address | None:
        if value is not None and not value.is_multicast:
            raise ValueError("group must be a multicast address (IPv4 224.0.0.0/4 or IPv6 ff00::/8, e.g. "
                             "239.1.1.1 or ff05::100)")
        return value

    @property
    def tap_name(self) -> str:
        return self.tap or f"pv{self.vni}"

    @field_validator("tap", "bridge")
    @classmethod
    def _ifname(cls, value: str | None) -> str | None:
        if value is not None and not 0 < len(value) <= IFNAME_MAX:
            raise ValueError(f"interface names have 1 to {IFNAME_MAX} characters")
        if value is not None and ("/" in value or " " in value):
            raise ValueError("interface names cannot contain '/' or spaces")
        return value

    @field_validator("route_target")
    @classmethod
    def _rt(cls, value: str | None) -> str | None:
        if value is not None:
            parse_route_target(value)
        return value


class ApiConfig(_Strict):
    socket: Path | None = Field(default=None, description="unix socket; default /run/pyvtep/<name>.sock")


class EvpnNeighbor(_Strict):
    address: IPv4Address
    asn: int = Field(ge=1, le=4294967295)


class EvpnConfig(_Strict):
    """BGP EVPN through a GoBGP daemon that pyvtep starts and drives."""

    asn: int = Field(ge=1, le=4294967295)
    router_id: IPv4Address | None = None
    neighbors: list[EvpnNeighbor] = Field(min_length=1)
    announce: list[IPv4Network] = Field(
        default_factory=list, description="underlay prefixes to announce (e.g. the VTEP address /32)"
    )
    api_port: int = Field(default=50051, ge=1, le=65535, description="GoBGP gRPC port on 127.0.0.1")
    bgp_port: int = Field(default=179, ge=1, le=65535)
    gobgpd: str = "gobgpd"
    mac_speakers: int = Field(
        default=0, ge=0, le=16,
        description="extra gobgpd processes that carry the type-2 routes (each MAC on one, handed to the main "
        "gobgpd over iBGP on 127.0.1.<n>, gRPC on api_port + n): gobgpd 3.10 visits its whole EVPN table for "
        "every MAC route added or withdrawn through its API, so the speakers take MAC routes and withdrawals "
        "much faster (the main gobgpd still scans once per added route); 0 = the main gobgpd carries them")


class PyvtepConfig(_Strict):
    name: str = "pyvtep"
    local_ip: IPvAnyAddress = Field(description="VTEP address: IPv4, or IPv6 for an IPv6 underlay")
    port: int = Field(default=IANA_VXLAN_PORT, ge=1, le=65535, description="UDP port; 8472 for old Linux")
    underlay_mtu: int = Field(default=1500, ge=576, le=65535)
    source_ports: str = Field(default="49152-49167", description="outer UDP source port range (hashed)")
    mac_aging: float = Field(default=300.0, gt=0)
    df: bool = True
    udp_checksum: bool = True
    offload: bool = True
    kernel_segmentation: bool = Field(
        default=True,
        description="hand TCP super-frames, encapsulated, to the kernel to cut (a TAP with UDP tunnel GSO, "
        "Linux 6.17+, IPv4 forwarding on that TAP only); pyvtep cuts them itself when off or unsupported",
    )
    batch: int = Field(default=64, ge=1, le=1024)
    datapath: Literal["tap", "packet-ring"] = Field(
        default="tap",
        description="local side: a TAP per VNI (one read per frame), or a veth pair per VNI read through an "
        "AF_PACKET TPACKET_V3 ring (a block of frames per wake-up, encapsulated with numpy)",
    )
    underlay_interface: str | None = Field(
        default=None, description="interface for multicast groups (kernel VXLAN's `dev`); default: the route")
    api: ApiConfig = Field(default_factory=ApiConfig)
    vnis: list[VniConfig] = Field(default_factory=list)
    evpn: EvpnConfig | None = None

    @field_validator("source_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        parse_port_range(value)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or "/" in value:
            raise ValueError("name must be non-empty and without '/'")
        return value

    @model_validator(mode="after")
    def _tap_mtus_fit(self) -> PyvtepConfig:
        overhead = tap_mtu_overhead(self.local_ip.version)
        limit = self.underlay_mtu - overhead
        for vni in self.vnis:
            if vni.mtu is not None and vni.mtu > limit:
                raise ValueError(f"VNI {vni.vni}: mtu {vni.mtu} exceeds underlay_mtu - {overhead} = {limit}")
        return self

    @property
    def source_port_range(self) -> tuple[int, int]:
        return parse_port_range(self.source_ports)

    @property
    def tap_mtu(self) -> int:
        return self.underlay_mtu - tap_mtu_overhead(self.local_ip.version)

    @property
    def ipv6(self) -> bool:
        """An IPv6 underlay (VXLAN over UDP/IPv6)."""
        return self.local_ip.version == 6

    @property
    def socket_path(self) -> Path:
        return self.api.socket or DEFAULT_SOCKET_DIR / f"{self.name}.sock"

    def vni(self, vni: int) -> VniConfig | None:
        return next((entry for entry in self.vnis if entry.vni == vni), None)


def parse_port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        first, last = int(low), int(high if sep else low)
    except ValueError:
        raise ValueError(f"port range must look like 49152-49167: {text!r}") from None
    if not 1 <= first <= last <= 65535 or last - first >= 1024:
        raise ValueError(f"port range must be 1..65535, low <= high, at most 1024 ports: {text!r}")
    return first, last


def parse_route_target(text: str) -> tuple[int, int]:
    """`65001:10010` -> (65001, 10010); 2-byte or 4-byte ASN with a matching local part."""
    asn, sep, local = text.partition(":")
    if not sep or not asn.isdigit() or not local.isdigit():
        raise ValueError(f"route target must look like ASN:NN: {text!r}")
    a, n = int(asn), int(local)
    if not (a <= 0xFFFF and n <= 0xFFFFFFFF) and not (a <= 0xFFFFFFFF and n <= 0xFFFF):
        raise ValueError(f"route target out of range: {text!r}")
    return a, n


def _semantic_problems(config: PyvtepConfig, source: YamlSource) -> list[Problem]:
    """Cross-field checks pydantic cannot express per field: duplicates and self-references."""
    problems: list[Problem] = []

    def add(path: tuple[str | int, ...], message: str, value: object) -> None:
        problems.append(Problem(source.file, format_path(path), message, value, source.line_of(path)))

    family = config.local_ip.version
    other = "IPv4" if family == 6 else "IPv6"
    fix = f"use IPv{family} addresses like local_ip ({config.local_ip}); one underlay family per pyvtep"
    _underlay_problems(config, add)
    seen_vni: dict[int, int] = {}
    seen_tap: dict[str, int] = {}
    for index, vni in enumerate(config.vnis):
        if vni.vni in seen_vni:
            add(("vnis", index, "vni"), f"duplicate VNI (also vnis[{seen_vni[vni.vni]}])", vni.vni)
        seen_vni.setdefault(vni.vni, index)
        if vni.tap_name in seen_tap:
            add(("vnis", index, "tap"), f"TAP name used twice (also vnis[{seen_tap[vni.tap_name]}])",
                vni.tap_name)
        seen_tap.setdefault(vni.tap_name, index)
        for position, remote in enumerate(vni.flood):
            if remote == config.local_ip:
                add(("vnis", index, "flood", position), "flood list contains our own local_ip", str(remote))
            elif remote.version != family:
                add(("vnis", index, "flood", position), f"{other} address on an IPv{family} underlay: {fix}",
                    str(remote))
        if vni.group is not None and vni.group.version != family:
            add(("vnis", index, "group"), f"{other} multicast group on an IPv{family} underlay: use an "
                f"IPv{family} group ({'ff05::100' if family == 6 else '239.1.1.1'} style) like local_ip "
                f"({config.local_ip})", str(vni.group))
        for position, static in enumerate(vni.macs):
            if static.remote.version != family:
                add(("vnis", index, "macs", position, "remote"), f"{other} address on an IPv{family} underlay: "
                    f"{fix}", str(static.remote))
            elif static.remote == config.local_ip:
                add(("vnis", index, "macs", position, "remote"), "static MAC points at our own local_ip",
                    str(static.remote))
    return problems


def _underlay_problems(config: PyvtepConfig, add: Callable[[tuple[str | int, ...], str, object], None]) -> None:
    """What an IPv6 underlay rules out (each with its fix)."""
    if not config.ipv6:
        return
    if not config.udp_checksum:
        add(("udp_checksum",), "UDP over IPv6 needs checksums (RFC 8200 section 8.1): remove "
            "`udp_checksum: false` or use an IPv4 local_ip", False)
    if config.evpn is not None:
        add(("evpn",), "EVPN needs an IPv4 local_ip for now (FRR 8.4 keeps VTEP addresses as IPv4): use an "
            "IPv4 local_ip with evpn, or static `flood` lists on the IPv6 underlay", str(config.local_ip))
    if config.local_ip.is_multicast or config.local_ip.is_unspecified or config.local_ip.is_link_local:
        add(("local_ip",), "local_ip must be a unicast IPv6 address that is not link-local (fe80::/10 needs "
            "an interface scope VXLAN does not carry): use a global or unique-local (fd00::/8) address",
            str(config.local_ip))


def parse_config(source: YamlSource) -> PyvtepConfig:
    if not isinstance(source.data, dict):
        raise VxautoError.single(source.file, "", "pyvtep config must be a mapping",
                                 type(source.data).__name__)
    try:
        config = PyvtepConfig.model_validate(source.data)
    except ValidationError as exc:
        raise VxautoError(problems_from_validation(exc, None, source)) from None
    VxautoError.collect(_semantic_problems(config, source))
    return config


def load_config(path: Path) -> PyvtepConfig:
    return parse_config(load_yaml_file(path))


def config_from_text(text: str, file: str = "<text>") -> PyvtepConfig:
    return parse_config(load_yaml_text(text, file))
