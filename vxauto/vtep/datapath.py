"""The packet decisions of pyvtep, free of I/O: decapsulate, classify, learn, pick destinations, count.

`Datapath.accept` takes one received VXLAN datagram and returns the segment and inner frame to deliver
(or None after counting why it was dropped); `Datapath.route` takes one frame read from a TAP and
returns the remote VTEPs to send it to. The I/O engine (`engine.py`) and the fuzz tests call exactly
these functions, so every packet that can arrive goes through code the tests exercise.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from vxauto.vtep.coalescing import tunnel_super_frame_header, wire_segments
from vxauto.vtep.config import PyvtepConfig, VniConfig
from vxauto.vtep.fdb import Kind, MacTable
from vxauto.vtep.nd import advertisement, solicitation
from vxauto.vtep.packet import (
    ETH_HEADER_LEN,
    VLAN_TPIDS,
    VXLAN_FLAG_I,
    VXLAN_HEADER_LEN,
    mac_bytes,
    outer_overhead,
    vxlan_header,
)

_MIN_DATAGRAM = VXLAN_HEADER_LEN + ETH_HEADER_LEN


ARP_FRAME_LEN = 42  # Ethernet + ARP for IPv4 over Ethernet
ARP_REQUEST_HEADER = bytes.fromhex("0001080006040001")  # Ethernet, IPv4, 6, 4, request
ARP_REPLY_HEADER = bytes.fromhex("0001080006040002")


@dataclass(slots=True)
class VniCounters:
    """Per-VNI counters. Packets are wire frames: a super-frame counts once per segment it stands for.

    rx = underlay -> TAP (decapsulation), tx = TAP -> underlay (encapsulation).
    """

    rx_packets: int = 0  # decapsulated and delivered to the TAP
    rx_bytes: int = 0
    rx_drop_inner_vlan: int = 0  # RFC 7348 6.1: inner 802.1Q/802.1ad tag while inner_vlan is "drop"
    rx_drop_oversized: int = 0  # bigger than the TAP MTU (and not a GSO super-frame)
    rx_drop_tap_error: int = 0  # the TAP refused the frame
    tap_frames: int = 0  # frames read from the TAP (before replication)
    tx_packets: int = 0  # encapsulated and handed to the underlay (each ingress replica counts)
    tx_bytes: int = 0
    tx_flood_packets: int = 0  # replicas of BUM / unknown-unicast frames
    tx_drop_inner_vlan: int = 0  # tagged frame from the TAP while inner_vlan is "drop"
    tx_drop_oversized: int = 0  # would exceed the underlay MTU: dropped, never fragmented
    tx_drop_no_destination: int = 0  # no remote VTEP to send to (empty flood list)
    tx_drop_local_destination: int = 0  # destination MAC lives on the local side: nothing to tunnel
    tx_drop_runt: int = 0  # shorter than an Ethernet header
    tx_drop_bad_offload: int = 0  # super-frame or partial checksum that cannot be segmented/completed
    tx_drop_send_error: int = 0  # the underlay refused the datagram (e.g. EMSGSIZE from path MTU)
    arp_suppressed: int = 0  # ARP requests answered locally from EVPN MAC+IP routes (not flooded)
    nd_suppressed: int = 0  # IPv6 Neighbor Solicitations answered locally from EVPN MAC+IP routes

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class GlobalCounters:
    """Underlay counters that cannot be attributed to a VNI (the VNI is unknown or unreadable)."""

    rx_datagrams: int = 0  # every VXLAN datagram: accepted + all rx drops (global and per VNI)
    rx_bytes: int = 0
    accepted: int = 0  # datagrams handed to a TAP (a super-frame counts once here)
    drop_truncated: int = 0  # shorter than VXLAN + Ethernet headers, or cut by the receive buffer
    drop_bad_flags: int = 0  # I flag not set
    drop_unknown_vni: int = 0
    drop_oversized: int = 0  # cut by the receive buffer (larger than any UDP datagram should be)
    gro_batches: int = 0  # receive buffers that held several coalesced datagrams
    super_frames_tx: int = 0  # TSO/USO super-frames read from TAPs and segmented
    super_frames_rx: int = 0  # coalesced TCP/UDP super-frames written to TAPs
    super_frames_in: int = 0  # GSO super-frames received whole from a kernel VTEP (over veth)
    kernel_segmented: int = 0  # of super_frames_tx: encapsulated whole and cut by the kernel (tunnel GSO)
    gso_runs_tx: int = 0  # runs of equal small frames sent as one UDP GSO sendmsg
    internal_errors: int = 0  # unexpected exceptions caught by the event loop (should stay 0)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True, eq=False)
class Segment:
    """Runtime state of one VNI."""

    vni: int
    config: VniConfig
    header: bytes
    table: MacTable
    max_frame: int  # largest inner frame accepted from the underlay (TAP MTU + Ethernet header)
    carry_vlan: bool
    learning: bool
    flood_static: frozenset[str] = frozenset()
    flood_evpn: set[str] = field(default_factory=set)
    flood_group: str | None = None  # multicast underlay group (BUM goes there too)
    flood: tuple[str, ...] = ()
    counters: VniCounters = field(default_factory=VniCounters)
    tap_fd: int = -1
    tap_name: str = ""
    tap_created: bool = False
    # IPv4 address -> MAC, from remote EVPN MAC+IP routes: ARP requests for these are answered locally
    # (RFC 7432 section 10, ARP suppression); filled by the EVPN agent.
    arp: dict[bytes, bytes] = field(default_factory=dict)
    # The same for IPv6 addresses (16 bytes): Neighbor Solicitations for these are answered locally.
    nd: dict[bytes, bytes] = field(default_factory=dict)

    def rebuild_flood(self) -> None:
        group = (self.flood_group,) if self.flood_group else ()
        self.flood = tuple(sorted(self.flood_static | self.flood_evpn)) + group


class Datapath:
    """Segments by VNI plus the two per-packet decisions."""

    def __init__(self, config: PyvtepConfig) -> None:
        self.config = config
        self.segments: dict[int, Segment] = {}
        self.counters = GlobalCounters()
        self.now = time.monotonic()
        self.local_ip = str(config.local_ip)
        self.max_encap_frame = config.underlay_mtu - outer_overhead(config.local_ip.version)
        self.max_decap_frame = 0
        self.started = time.time()
        self.tap_replies: list[tuple[Segment, bytes]] = []  # frames to write back to a TAP (ARP replies)
        for vni in config.vnis:
            self.add_segment(vni, config.tap_mtu)

    # --- configuration -------------------------------------------------------------------------

    def add_segment(self, vni: VniConfig, default_mtu: int) -> Segment:
        mtu = vni.mtu or default_mtu
        carry = vni.inner_vlan == "carry"
        segment = Segment(
            vni=vni.vni, config=vni, header=vxlan_header(vni.vni), table=MacTable(vni.vni),
            max_frame=mtu + ETH_HEADER_LEN + (4 if carry else 0), carry_vlan=carry, learning=vni.learning,
        )
        self.segments[vni.vni] = segment
        self.update_segment(segment, vni, default_mtu)
        return segment

    def update_segment(self, segment: Segment, vni: VniConfig, default_mtu: int) -> None:
        """Apply a (re)loaded VNI config without touching learned or EVPN state."""
        carry = vni.inner_vlan == "carry"
        segment.config, segment.carry_vlan, segment.learning = vni, carry, vni.learning
        segment.max_frame = (vni.mtu or default_mtu) + ETH_HEADER_LEN + (4 if carry else 0)
        segment.flood_static = frozenset(str(remote) for remote in vni.flood)
        segment.flood_group = str(vni.group) if vni.group is not None else None
        segment.rebuild_flood()
        wanted = {mac_bytes(static.mac): str(static.remote) for static in vni.macs}
        for mac, entry in list(segment.table.entries.items()):
            if entry.kind == Kind.STATIC and wanted.get(mac) != entry.remote:
                del segment.table.entries[mac]
        for mac, remote in wanted.items():
            segment.table.set_static(mac, remote, self.now)
        if not vni.learning:
            segment.table.flush_learned()
        self.max_decap_frame = max((s.max_frame for s in self.segments.values()), default=0)

    def remove_segment(self, vni: int) -> Segment | None:
        segment = self.segments.pop(vni, None)
        self.max_decap_frame = max((s.max_frame for s in self.segments.values()), default=0)
        return segment

    # --- underlay -> TAP -----------------------------------------------------------------------

    def accept(
        self, datagram: memoryview, remote: str, gso_size: int = 0
    ) -> tuple[Segment, memoryview, bytes | None] | None:
        """Check one VXLAN datagram (UDP payload); return (segment, inner frame, virtio-net header for a
        super-frame or None) or None if dropped.

        Only the I flag is checked: the other flag bits and the reserved fields are ignored on receive
        (RFC 7348 section 5). Every rejected datagram increments exactly one drop counter. An inner
        frame larger than the TAP MTU is dropped unless it is a GSO super-frame a kernel VTEP handed
        over unsegmented (see `coalescing.tunnel_super_frame_header`); it then counts as its wire frames.
        """
        counters = self.counters
        length = len(datagram)
        counters.rx_datagrams += 1
        counters.rx_bytes += length
        if length < _MIN_DATAGRAM:
            counters.drop_truncated += 1
            return None
        if not datagram[0] & VXLAN_FLAG_I:
            counters.drop_bad_flags += 1
            return None
        segment = self.segments.get((datagram[4] << 16) | (datagram[5] << 8) | datagram[6])
        if segment is None:
            counters.drop_unknown_vni += 1
            return None
        frame = datagram[VXLAN_HEADER_LEN:]
        if ((frame[12] << 8) | frame[13]) in VLAN_TPIDS and not segment.carry_vlan:
            segment.counters.rx_drop_inner_vlan += 1
            return None
        packets, vnet = 1, None
        if length - VXLAN_HEADER_LEN > segment.max_frame:
            vnet = tunnel_super_frame_header(frame, gso_size, segment.max_frame)
            if vnet is None:
                segment.counters.rx_drop_oversized += 1
                return None
            packets = wire_segments(length - VXLAN_HEADER_LEN, vnet)
            counters.super_frames_in += 1
        if segment.learning and not frame[6] & 1:
            source = bytes(frame[6:12])
            entry = segment.table.entries.get(source)
            if entry is not None and entry.remote == remote:
                entry.seen = self.now  # the common case: refresh only
            else:
                segment.table.learn_remote(source, remote, self.now)
        counters.accepted += 1
        segment.counters.rx_packets += packets
        segment.counters.rx_bytes += length - VXLAN_HEADER_LEN
        return segment, frame, vnet

    # --- TAP -> underlay -----------------------------------------------------------------------

    def route(self, segment: Segment, frame: memoryview, segments: int = 1) -> tuple[str, ...]:
        """The remote VTEPs for one frame read from the TAP (empty: dropped and counted).

        `frame` is a single wire frame, or the first segment's headers when `segments` > 1 (a
        super-frame that will be cut into that many frames).
        """
        counters = segment.counters
        length = len(frame)
        counters.tap_frames += segments
        if length < ETH_HEADER_LEN:
            counters.tx_drop_runt += segments
            return ()
        if ((frame[12] << 8) | frame[13]) in VLAN_TPIDS and not segment.carry_vlan:
            counters.tx_drop_inner_vlan += segments
            return ()
        if length > self.max_encap_frame:
            counters.tx_drop_oversized += segments
            return ()
        if not frame[6] & 1:
            source = bytes(frame[6:12])
            entry = segment.table.entries.get(source)
            if entry is not None and entry.kind == Kind.LOCAL:
                entry.seen = self.now
            else:
                segment.table.learn_local(source, self.now)
        if frame[0] & 1:
            if segment.arp and frame[12] == 0x08 and frame[13] == 0x06 and self._suppress_arp(segment, frame):
                return ()
            if segment.nd and frame[12] == 0x86 and frame[13] == 0xDD and self._suppress_nd(segment, frame):
                return ()
            targets = segment.flood
            counters.tx_flood_packets += len(targets) * segments
        else:
            entry = segment.table.entries.get(bytes(frame[0:6]))
            if entry is None:
                targets = segment.flood  # unknown unicast is flooded like BUM traffic
                counters.tx_flood_packets += len(targets) * segments
            elif entry.remote:
                targets = (entry.remote,)
            else:
                counters.tx_drop_local_destination += segments  # the TAP side already has it
                return ()
        if not targets:
            counters.tx_drop_no_destination += segments
        return targets

    def _suppress_arp(self, segment: Segment, frame: memoryview) -> bool:
        """Answer an ARP request for an address EVPN placed behind a remote VTEP; True if answered."""
        if len(frame) < ARP_FRAME_LEN or frame[14:22] != ARP_REQUEST_HEADER:
            return False
        target_ip = bytes(frame[38:42])
        mac = segment.arp.get(target_ip)
        entry = segment.table.entries.get(mac) if mac is not None else None
        if mac is None or entry is None or entry.kind != Kind.EVPN:
            return False  # unknown, or the host lives here now (and answers itself)
        asker_mac, asker_ip = bytes(frame[22:28]), bytes(frame[28:32])
        reply = (asker_mac + mac + b"\x08\x06" + ARP_REPLY_HEADER + mac + target_ip + asker_mac + asker_ip)
        self.tap_replies.append((segment, reply.ljust(60, b"\0")))
        segment.counters.arp_suppressed += 1
        return True

    def _suppress_nd(self, segment: Segment, frame: memoryview) -> bool:
        """Answer a Neighbor Solicitation for an address EVPN placed behind a remote VTEP; True if answered.

        Anything else (an unknown target, duplicate address detection, a malformed or forged message)
        goes on as any multicast frame does: flooded, so the owner still answers.
        """
        asked = solicitation(frame)
        if asked is None:
            return False
        mac = segment.nd.get(asked.target)
        entry = segment.table.entries.get(mac) if mac is not None else None
        if mac is None or entry is None or entry.kind != Kind.EVPN:
            return False  # unknown, or the host lives here now (and answers itself)
        self.tap_replies.append((segment, advertisement(asked, mac)))
        segment.counters.nd_suppressed += 1
        return True

    def count_sent(self, segment: Segment, packets: int, frame_bytes: int) -> None:
        segment.counters.tx_packets += packets
        segment.counters.tx_bytes += frame_bytes

    # --- housekeeping --------------------------------------------------------------------------

    def tick(self) -> None:
        self.now = time.monotonic()

    def age(self) -> int:
        return sum(s.table.age(self.now, self.config.mac_aging) for s in self.segments.values())

    # --- views for the management API ------------------------------------------------------------

    def vni_rows(self) -> list[dict[str, object]]:
        return [
            {
                "vni": s.vni, "tap": s.tap_name, "bridge": s.config.bridge, "learning": s.learning,
                "inner_vlan": s.config.inner_vlan, "flood": list(s.flood), "macs": len(s.table),
                "group": s.flood_group,
            }
            for s in sorted(self.segments.values(), key=lambda seg: seg.vni)
        ]

    def vtep_rows(self) -> list[dict[str, object]]:
        """Remote VTEPs per VNI and where we know them from (static list, EVPN type-3, MAC entries)."""
        rows = []
        for s in sorted(self.segments.values(), key=lambda seg: seg.vni):
            sources: dict[str, set[str]] = {}
            for remote in s.flood_static:
                sources.setdefault(remote, set()).add("static")
            for remote in s.flood_evpn:
                sources.setdefault(remote, set()).add("evpn")
            for entry in s.table.entries.values():
                if entry.remote:
                    sources.setdefault(entry.remote, set()).add(f"mac-{entry.kind.name.lower()}")
            rows += [{"vni": s.vni, "remote": remote, "flood": remote in s.flood, "sources": sorted(src)}
                     for remote, src in sorted(sources.items())]
        return rows

    def mac_rows(self, vnis: Iterable[int] | None = None) -> list[dict[str, object]]:
        wanted = set(vnis) if vnis is not None else None
        return [row for s in sorted(self.segments.values(), key=lambda seg: seg.vni)
                if wanted is None or s.vni in wanted for row in s.table.rows(self.now)]

    def flush(self, vnis: Iterable[int] | None = None, macs: set[bytes] | None = None) -> dict[str, int]:
        """Forget local and learned MACs (all, or only `macs`), like `bridge fdb flush`; EVPN withdraws
        the local ones. Static and EVPN entries stay: they come from configuration and BGP."""
        wanted = set(vnis) if vnis is not None else None
        flushed = 0
        for segment in self.segments.values():
            if wanted is not None and segment.vni not in wanted:
                continue
            table = segment.table
            for mac in [m for m, e in table.entries.items() if e.ages and (macs is None or m in macs)]:
                flushed += table.remove(mac, table.entries[mac].kind)
        return {"flushed": flushed}

    def counter_rows(self) -> dict[str, object]:
        return {
            "global": self.counters.as_dict(),
            "vnis": {str(s.vni): s.counters.as_dict() for s in sorted(self.segments.values(),
                                                                       key=lambda seg: seg.vni)},
        }
