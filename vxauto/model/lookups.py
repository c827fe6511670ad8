"""The intent and hosts of a fabric and the lookups on them (attachments, groups, links, VLANs).

Shared by the two halves of the fabric model: relations.py (cross-field checks) and derive.py (DeviceFacts).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from vxauto.model.loader import RawInventory, ResolvedHost
from vxauto.model.schema import FabricIntent, HostIntent, Segment, Tenant, UnderlayLink


@dataclass
class FabricLookups:
    """The intent and hosts of a fabric with the lookups both the relation checks (relations.py) and the
    fact derivation (derive.py) use. `Fabric` (fabric.py) joins the three."""

    intent: FabricIntent
    hosts: dict[str, HostIntent]
    raw: RawInventory | None = None
    resolved: dict[str, ResolvedHost] = field(default_factory=dict)

    # --- lookups --------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.intent.fabric.name

    @cached_property
    def tenants(self) -> dict[str, Tenant]:
        return {t.name: t for t in self.intent.tenants}

    @cached_property
    def segments(self) -> dict[str, Segment]:
        return {s.name: s for s in self.intent.segments}

    @cached_property
    def _position(self) -> dict[int, int]:
        """id(segment or tenant) -> its index in fabric.yaml, for error paths (list.index is O(n))."""
        items = [*enumerate(self.intent.segments), *enumerate(self.intent.tenants)]
        return {id(item): index for index, item in items}

    @cached_property
    def vteps(self) -> dict[str, HostIntent]:
        return {name: h for name, h in self.hosts.items() if h.data.vtep is not None}

    @cached_property
    def group_members(self) -> dict[str, list[str]]:
        """Group -> hosts, following nested groups as Nornir does."""
        groups_data = (self.raw.groups.data if self.raw else None) or {}
        members: dict[str, list[str]] = defaultdict(list)
        for host in self.hosts.values():
            for group in self._expand_groups(host.groups, groups_data, ()):
                if host.name not in members[group]:
                    members[group].append(host.name)
        return members

    def _expand_groups(self, groups: list[str], data: dict, seen: tuple[str, ...]) -> Iterator[str]:
        for group in groups:
            if group in seen:
                continue
            yield group
            yield from self._expand_groups((data.get(group) or {}).get("groups") or [], data, (*seen, group))

    def attached_hosts(self, segment: Segment) -> list[str]:
        """Hosts a segment is attached to, in inventory order (only VTEPs can carry segments)."""
        if segment.attach == "all":
            return list(self.vteps)
        wanted = set(segment.attach.hosts)
        for group in segment.attach.groups:
            wanted.update(self.group_members.get(group, ()))
        return [name for name in self.hosts if name in wanted]

    @cached_property
    def attachments(self) -> dict[str, list[str]]:
        """Segment name -> attached host names."""
        return {s.name: self.attached_hosts(s) for s in self.intent.segments}

    @cached_property
    def segments_by_host(self) -> dict[str, list[Segment]]:
        by_host: dict[str, list[Segment]] = defaultdict(list)
        for segment in self.intent.segments:
            for host in self.attachments[segment.name]:
                by_host[host].append(segment)
        return by_host

    def flood_mode(self, segment: Segment) -> str:
        return segment.flood or self.intent.fabric.flood

    def route_target(self, segment: Segment) -> str:
        return segment.route_target or f"{self.intent.fabric.asn}:{segment.vni}"

    def vlan_on(self, segment: Segment, host: str) -> int:
        return segment.local_vlans.get(host, segment.vlan)

    @cached_property
    def _links_by_pair(self) -> dict[tuple[str, str], list[tuple[UnderlayLink, ipaddress.IPv4Interface]]]:
        """(host, peer) -> that host's links towards the peer, with parsed addresses (parsed once)."""
        pairs: dict[tuple[str, str], list] = defaultdict(list)
        for host in self.hosts.values():
            for link in host.data.underlay:
                pairs[(host.name, link.peer)].append((link, ipaddress.ip_interface(link.ip)))
        return pairs

    def _peer_link(self, host: str, ip: str, peer: str) -> UnderlayLink | None:
        """The peer's end of the link `host` has with address `ip` (same subnet, other address)."""
        own = ipaddress.ip_interface(ip)
        for candidate, address in self._links_by_pair.get((peer, host), ()):
            if address.network == own.network and address != own:
                return candidate
        return None
