"""Relation checks: every cross-field rule of an intent (duplicates, references, MTU, features, VLANs per
device, underlay links, ports, route targets, VNI ranges, releases, sites), each problem naming file, YAML path,
line and value. The schema (schema.py) has checked every field on its own before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, cast

from vxauto.errors import Problem
from vxauto.model import mobility, multisite
from vxauto.model.lookups import FabricLookups
from vxauto.model.platforms import RESERVED_VRF_NAMES, Feature, platform
from vxauto.model.schema import Segment, Tenant
from vxauto.model.yamlsource import PathKey, format_path

DEFAULT_UDP_PORT = 4789  # IANA-assigned VXLAN port (RFC 7348)
OUTER_OVERHEAD = {4: 50, 6: 70}  # outer Ethernet 14 + IP 20/40 + UDP 8 + VXLAN 8 bytes


if TYPE_CHECKING:
    from vxauto.model.fabric import Fabric


class RelationChecks(FabricLookups):
    """The cross-field checks of a fabric; `problems()` runs them all."""

    # --- locating problems ----------------------------------------------------------------------------

    def _fabric_problem(self, path: PathKey, message: str, value: object = None) -> Problem:
        source = self.raw.fabric if self.raw else None
        file = source.file if source else "fabric.yaml"
        line = source.line_of(path) if source else None
        return Problem(file, format_path(path), message, value, line)

    def _host_problem(self, host: str, loc: PathKey, message: str, value: object = None) -> Problem:
        resolved = self.resolved.get(host)
        if resolved is None:
            return Problem("hosts.yaml", format_path((host, *loc)), message, value)
        source, path = resolved.origin_of(loc)
        if not path or path[0] != host or (self.raw and source is not self.raw.hosts):
            message = f"{message} [host {host}]"  # inherited from a group or the defaults: say for whom
        return Problem(source.file, format_path(path), message, value, source.line_of(path))

    # --- cross-field validation -----------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        checks = (
            self._check_names_unique,
            self._check_vnis_unique,
            self._check_tenants,
            self._check_attachments,
            self._check_mtu,
            self._check_hosts,
            self._check_features,
            self._check_vlans_per_device,
            self._check_underlay,
            self._check_ports_and_endpoints,
            self._check_route_targets,
            self._check_vni_ranges,
            self._check_versions,
            self._check_sites_and_mobility,
        )
        return [problem for check in checks for problem in check()]

    def _check_sites_and_mobility(self) -> Iterator[Problem]:
        fabric = cast("Fabric", self)  # self is always the joined Fabric
        yield from mobility.problems(fabric)
        yield from multisite.problems(fabric)

    def _check_names_unique(self) -> Iterator[Problem]:
        named: tuple[tuple[str, Sequence[Segment | Tenant]], ...] = (
            ("segments", self.intent.segments), ("tenants", self.intent.tenants),
        )
        for kind, items in named:
            seen: dict[str, int] = {}
            for index, item in enumerate(items):
                if item.name in seen:
                    yield self._fabric_problem(
                        (kind, index, "name"), f"duplicate name, first used at {kind}[{seen[item.name]}]",
                        item.name,
                    )
                seen.setdefault(item.name, index)

    def _check_vnis_unique(self) -> Iterator[Problem]:
        owners: dict[int, str] = {}
        for index, tenant in enumerate(self.intent.tenants):
            if tenant.l3vni is not None:
                if tenant.l3vni in owners:
                    yield self._fabric_problem(
                        ("tenants", index, "l3vni"), f"VNI already used by {owners[tenant.l3vni]}", tenant.l3vni
                    )
                owners.setdefault(tenant.l3vni, f"tenant {tenant.name} (L3 VNI)")
        for index, segment in enumerate(self.intent.segments):
            if segment.vni in owners:
                yield self._fabric_problem(
                    ("segments", index, "vni"), f"VNI already used by {owners[segment.vni]}", segment.vni
                )
            owners.setdefault(segment.vni, f"segment {segment.name}")

    def _check_tenants(self) -> Iterator[Problem]:
        for index, tenant in enumerate(self.intent.tenants):
            if tenant.vrf_name.lower() in RESERVED_VRF_NAMES:
                yield self._fabric_problem(
                    ("tenants", index, "vrf" if tenant.vrf else "name"),
                    f"is a reserved VRF name ({', '.join(sorted(RESERVED_VRF_NAMES))})", tenant.vrf_name,
                )
            if tenant.l3vni is not None and tenant.l3vlan is None:
                yield self._fabric_problem(
                    ("tenants", index, "l3vlan"), "an L3 VNI needs l3vlan (the VLAN that carries it)"
                )
        for index, segment in enumerate(self.intent.segments):
            if segment.tenant not in self.tenants:
                yield self._fabric_problem(("segments", index, "tenant"), "unknown tenant", segment.tenant)
            if segment.gateway is not None and ipaddress.ip_interface(segment.gateway).network.prefixlen in (32, 128):
                yield self._fabric_problem(
                    ("segments", index, "gateway"), "gateway needs the subnet prefix length", segment.gateway
                )

    def _check_attachments(self) -> Iterator[Problem]:
        for index, segment in enumerate(self.intent.segments):
            if segment.attach != "all":
                for position, host in enumerate(segment.attach.hosts):
                    path = ("segments", index, "attach", "hosts", position)
                    if host not in self.hosts:
                        yield self._fabric_problem(path, "unknown host", host)
                    elif host not in self.vteps:
                        yield self._fabric_problem(path, "host is not a VTEP (it has no data.vtep)", host)
                for position, group in enumerate(segment.attach.groups):
                    if group not in self.group_members and not self._group_defined(group):
                        yield self._fabric_problem(
                            ("segments", index, "attach", "groups", position), "unknown group", group
                        )
            attached = set(self.attachments[segment.name])
            for host in segment.local_vlans:
                if host not in attached:
                    yield self._fabric_problem(
                        ("segments", index, "local_vlans", host), "host is not attached to this segment", host
                    )

    def _group_defined(self, group: str) -> bool:
        return bool(self.raw and isinstance(self.raw.groups.data, dict) and group in self.raw.groups.data)

    def _check_mtu(self) -> Iterator[Problem]:
        settings = self.intent.fabric
        versions = {6 if ":" in h.data.vtep.ip else 4 for h in self.vteps.values() if h.data.vtep}
        overhead = OUTER_OVERHEAD[6 if 6 in versions else 4]
        if settings.underlay_mtu < settings.overlay_mtu + overhead:
            yield self._fabric_problem(
                ("fabric", "underlay_mtu"),
                f"must be at least overlay_mtu + {overhead} = {settings.overlay_mtu + overhead} "
                f"(VXLAN over IPv{6 if 6 in versions else 4} adds {overhead} bytes)",
                settings.underlay_mtu,
            )
        for host in self.hosts.values():
            for position, link in enumerate(host.data.underlay):
                if link.mtu is not None and link.mtu < settings.overlay_mtu + overhead:
                    yield self._host_problem(
                        host.name, ("data", "underlay", position, "mtu"),
                        f"must be at least overlay_mtu + {overhead} = {settings.overlay_mtu + overhead}",
                        link.mtu,
                    )

    def _check_hosts(self) -> Iterator[Problem]:
        vtep_owner: dict[str, str] = {}
        router_owner: dict[str, str] = {}
        for host in self.hosts.values():
            data, target = host.data, platform(host.platform)
            if data.role not in target.roles:
                yield self._host_problem(
                    host.name, ("data", "role"),
                    f"platform {host.platform} cannot take role {data.role} (supports: "
                    f"{', '.join(sorted(target.roles))})", data.role,
                )
            if data.role == "leaf" and data.vtep is None:
                yield self._host_problem(host.name, ("data", "vtep"), "a leaf needs a vtep (interface and ip)")
            if data.role != "leaf" and data.vtep is not None:
                yield self._host_problem(
                    host.name, ("data", "vtep"), f"only leaves are VTEPs, this host is a {data.role}"
                )
            if data.flavour is not None and not target.flavours:
                yield self._host_problem(
                    host.name, ("data", "flavour"), f"platform {host.platform} has no flavours", data.flavour
                )
            if data.underlay and (data.asn is None or data.router_id is None):
                missing = "asn" if data.asn is None else "router_id"
                yield self._host_problem(
                    host.name, ("data", missing), "a host with underlay links needs asn and router_id (eBGP)"
                )
            if data.vtep is not None:
                if data.vtep.ip in vtep_owner:
                    yield self._host_problem(
                        host.name, ("data", "vtep", "ip"), f"VTEP IP already used by {vtep_owner[data.vtep.ip]}",
                        data.vtep.ip,
                    )
                vtep_owner.setdefault(data.vtep.ip, host.name)
                if ipaddress.ip_address(data.vtep.ip).is_multicast or ipaddress.ip_address(
                    data.vtep.ip
                ).is_unspecified:
                    yield self._host_problem(
                        host.name, ("data", "vtep", "ip"), "a VTEP IP must be a unicast address", data.vtep.ip
                    )
            if data.router_id is not None:
                if data.router_id in router_owner:
                    yield self._host_problem(
                        host.name, ("data", "router_id"),
                        f"router ID already used by {router_owner[data.router_id]}", data.router_id,
                    )
                router_owner.setdefault(data.router_id, host.name)

    @cached_property
    def _segment_needs(self) -> dict[str, frozenset[Feature]]:
        """Segment -> the platform features a VTEP carrying it needs."""
        needs = {}
        for segment in self.intent.segments:
            features = {Feature.EVPN if self.flood_mode(segment) == "evpn" else Feature.STATIC_FLOOD}
            if segment.gateway:
                features.add(Feature.ANYCAST_GATEWAY)
            tenant = self.tenants.get(segment.tenant)
            if tenant and tenant.l3vni is not None:
                features.add(Feature.L3VNI)
            needs[segment.name] = frozenset(features)
        return needs

    def _check_features(self) -> Iterator[Problem]:
        segment_needs = self._segment_needs
        for name, segments in self.segments_by_host.items():
            host = self.hosts[name]
            target = platform(host.platform)
            needed = set().union(*(segment_needs[s.name] for s in segments))
            if host.data.vtep and ":" in host.data.vtep.ip:
                needed.add(Feature.IPV6_UNDERLAY)
            if self.intent.fabric.udp_port != DEFAULT_UDP_PORT:
                needed.add(Feature.CUSTOM_UDP_PORT)
            for feature in sorted(needed - target.features):
                reason = next((s.name for s in segments if feature in segment_needs[s.name]),
                              "fabric.udp_port" if feature == Feature.CUSTOM_UDP_PORT else "data.vtep.ip")
                rule = f"; {target.rules[feature]}" if feature in target.rules else ""
                yield self._host_problem(
                    name, ("platform",),
                    f"platform {host.platform} does not support {feature.value} (needed by {reason}{rule})",
                    host.platform,
                )
            for feature in sorted((needed & target.features) - target.features_for(host.data.flavour)):
                reason = next((s.name for s in segments if feature in segment_needs[s.name]), "data.vtep.ip")
                yield self._host_problem(
                    name, ("data", "flavour"),
                    f"flavour {host.data.flavour} of platform {host.platform} does not support {feature.value} "
                    f"(needed by {reason})", host.data.flavour,
                )
            required = target.required_vtep_interface
            if required and host.data.vtep and host.data.vtep.interface != required:
                yield self._host_problem(
                    name, ("data", "vtep", "interface"), f"{host.platform} sources VXLAN from {required} only",
                    host.data.vtep.interface,
                )
            for tenant_name in sorted({s.tenant for s in segments if s.tenant in self.tenants}):
                tenant = self.tenants[tenant_name]
                if tenant.l3vni is None and not any(s.gateway for s in segments if s.tenant == tenant_name):
                    continue  # no VRF is rendered for a pure L2 tenant
                if len(tenant.vrf_name) > target.max_vrf_name:
                    yield self._fabric_problem(
                        ("tenants", self._position[id(tenant)], "vrf" if tenant.vrf else "name"),
                        f"VRF name longer than {target.max_vrf_name} characters, the limit on {host.platform} "
                        f"(host {name})", tenant.vrf_name,
                    )
            if Feature.EVPN in needed and (host.data.asn is None or host.data.router_id is None):
                reason = next(s.name for s in segments if Feature.EVPN in segment_needs[s.name])
                yield self._host_problem(
                    name, ("data", "asn" if host.data.asn is None else "router_id"),
                    f"EVPN segment {reason} needs BGP: set asn and router_id",
                )

    def _check_vlans_per_device(self) -> Iterator[Problem]:
        for name, segments in self.segments_by_host.items():
            host = self.hosts[name]
            target = platform(host.platform)
            used: dict[int, Segment] = {}
            for segment in segments:
                vlan = self.vlan_on(segment, name)
                first = used.setdefault(vlan, segment)
                reserved = target.reserved_vlan(vlan) if target.reserved_vlans else None
                if first is not segment or reserved:
                    index = self._position[id(segment)]
                    path = ("segments", index, "local_vlans", name) if name in segment.local_vlans else (
                        "segments", index, "vlan")
                    if first is not segment:
                        yield self._fabric_problem(
                            path, f"on {name} VLAN {vlan} is already mapped to segment {first.name} "
                            f"(VNI {first.vni})", vlan,
                        )
                    if reserved:
                        yield self._fabric_problem(
                            path, f"VLAN {vlan} is reserved on {host.platform} ({reserved[0]}-{reserved[1]}), "
                            f"host {name}", vlan,
                        )
            for tenant in {self.tenants[s.tenant] for s in segments if s.tenant in self.tenants}:
                if tenant.l3vlan is not None and tenant.l3vlan in used:
                    index = self._position[id(tenant)]
                    clash = used[tenant.l3vlan]
                    yield self._fabric_problem(
                        ("tenants", index, "l3vlan"),
                        f"on {name} VLAN {tenant.l3vlan} is already mapped to segment {clash.name} "
                        f"(VNI {clash.vni})", tenant.l3vlan,
                    )

    def _check_underlay(self) -> Iterator[Problem]:
        for host in self.hosts.values():
            seen_interfaces: set[str] = set()
            for position, link in enumerate(host.data.underlay):
                path = ("data", "underlay", position)
                if link.interface in seen_interfaces:
                    yield self._host_problem(host.name, (*path, "interface"), "interface used twice",
                                             link.interface)
                seen_interfaces.add(link.interface)
                if link.peer not in self.hosts:
                    yield self._host_problem(host.name, (*path, "peer"), "unknown host", link.peer)
                elif self._peer_link(host.name, link.ip, link.peer) is None:
                    yield self._host_problem(
                        host.name, (*path, "peer"),
                        f"{link.peer} has no underlay link back to {host.name} in "
                        f"{ipaddress.ip_interface(link.ip).network}", link.peer,
                    )

    def _check_ports_and_endpoints(self) -> Iterator[Problem]:
        for host in self.hosts.values():
            attached = {s.name for s in self.segments_by_host.get(host.name, [])}
            for position, port in enumerate(host.data.ports):
                names = ([port.segment] if port.segment else []) + port.segments
                if not names:
                    yield self._host_problem(
                        host.name, ("data", "ports", position), "a port needs segment (access) or segments (trunk)"
                    )
                for name in names:
                    field_path = ("segment",) if name == port.segment else ("segments",)
                    if name not in attached:
                        reason = "unknown segment" if name not in self.segments else \
                            f"segment is not attached to {host.name}"
                        yield self._host_problem(host.name, ("data", "ports", position, *field_path), reason, name)
            for position, endpoint in enumerate(host.data.endpoints):
                segment = self.segments.get(endpoint.segment)
                path = ("data", "endpoints", position)
                if segment is None:
                    yield self._host_problem(host.name, (*path, "segment"), "unknown segment", endpoint.segment)
                elif segment.gateway and ipaddress.ip_interface(endpoint.ip).ip not in ipaddress.ip_interface(
                    segment.gateway
                ).network:
                    yield self._host_problem(
                        host.name, (*path, "ip"), f"not inside the segment subnet {segment.gateway}", endpoint.ip
                    )

    def _check_route_targets(self) -> Iterator[Problem]:
        asn = self.intent.fabric.asn
        for index, segment in enumerate(self.intent.segments):
            if segment.route_target is None and asn > 65535 and segment.vni > 65535:
                yield self._fabric_problem(
                    ("segments", index, "route_target"),
                    f"the derived RT {asn}:{segment.vni} does not fit (4-byte ASN leaves 2 bytes for the VNI); "
                    "set route_target", f"{asn}:{segment.vni}",
                )
        for index, tenant in enumerate(self.intent.tenants):
            if tenant.l3vni is not None and asn > 65535 and tenant.l3vni > 65535:
                yield self._fabric_problem(
                    ("tenants", index, "l3vni"), f"the derived RT {asn}:{tenant.l3vni} does not fit",
                    tenant.l3vni,
                )

    # --- derived facts --------------------------------------------------------------------------------

    def _check_vni_ranges(self) -> Iterator[Problem]:
        """Every VNI a VTEP carries must be one its platform accepts (ranges differ per vendor)."""
        reported: set[tuple[str, int]] = set()
        for name, segments in self.segments_by_host.items():
            target = platform(self.hosts[name].platform)
            low, high = target.vni_range
            tenants = {s.tenant for s in segments if s.tenant in self.tenants}
            owned: list[tuple[PathKey, int]] = [
                (("segments", self._position[id(s)], "vni"), s.vni) for s in segments]
            for tenant in sorted(tenants):
                l3vni = self.tenants[tenant].l3vni
                if l3vni is not None:
                    owned.append((("tenants", self._position[id(self.tenants[tenant])], "l3vni"), l3vni))
            for path, vni in owned:
                if not low <= vni <= high and (target.name, vni) not in reported:
                    reported.add((target.name, vni))
                    yield self._fabric_problem(
                        path, f"VNI {vni} is outside {low}-{high}, the VNIs {target.name} accepts ({target.vni_rule}) "
                        f"[host {name}]", vni,
                    )

    def _check_versions(self) -> Iterator[Problem]:
        for host in self.hosts.values():
            target = platform(host.platform)
            version = host.data.version
            if version is None:
                continue
            if target.versions is None:
                yield self._host_problem(host.name, ("data", "version"),
                                         f"platform {host.platform} renders one syntax for every release; "
                                         "leave version out", version)
            elif not target.supports_version(version):
                yield self._host_problem(
                    host.name, ("data", "version"),
                    f"{host.platform} {version} is not supported (supported: {target.versions[0]}-"
                    f"{target.versions[1]}): {target.version_rule}", version,
                )
