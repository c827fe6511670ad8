"""Aggregating decoded VXLAN packets: per VNI, tenant, VTEP pair and inner flow.

`Analyzer` takes `PacketTable` batches (from a file or a live capture), groups them with numpy and
folds the groups into small Python dictionaries, so memory grows with the number of VNIs, pairs and
flows, not with the number of packets. `Analyzer.report()` turns the state into a `Report` (plain data,
ready for JSON, CSV, HTML, Prometheus and IPFIX) and runs the checks of `checks.py`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Literal, TypedDict

import numpy as np

from vxauto.monitor import groupby
from vxauto.monitor.decode import DecodeStats
from vxauto.monitor.intent import IntentView
from vxauto.monitor.table import (
    INNER_NOT_ETHERNET,
    INNER_OK,
    VARIANT_GBP,
    VARIANT_GPE,
    VARIANT_NAMES,
    PacketTable,
    address_text,
    mac_text,
)

BROADCAST = 0xFFFF_FFFF_FFFF
GROUP_BIT = 1 << 40  # the I/G bit of the first octet of a MAC address
NS = 1_000_000_000
#: Pending rows before they are folded into the dictionaries (bounds memory, keeps the sorts large).
FLUSH_ROWS = 1 << 18
#: Inner flows remembered per VTEP pair for the source-port entropy check.
MAX_FLOWS_PER_PAIR = 65_536

ETHERTYPE_NAMES = {0x0800: "ipv4", 0x86DD: "ipv6", 0x0806: "arp", 0: "-"}
PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 0: "-"}

#: Per (outer source, outer destination, VNI) counters, in this order.
PAIR_COUNTERS = (
    "packets", "bytes", "wire_bytes", "broadcast", "multicast", "tagged", "inner_oversize", "outer_oversize",
    "fragmented", "no_i_flag", "reserved_bits", "gbp", "gpe", "inner_problems", "offloaded",
)
#: No Ethernet wire carries frames this big (jumbo frames stop near 9216 bytes): larger captured packets
#: were taken before segmentation offload (GSO/TSO) or after receive offload (GRO) cut or merged them.
MAX_WIRE_FRAME = 16_384


@dataclass
class Thresholds:
    """Knobs of the checks; MTUs come from the intent when one is given."""

    bum_pps: float = 1000.0
    entropy_min_flows: int = 8
    entropy_ratio: float = 0.5
    overlay_mtu: int | None = None
    underlay_mtu: int | None = None


@dataclass
class Anomaly:
    kind: str
    severity: str  # "error" (the intent is violated or packets are wrong) or "warning"
    message: str
    packets: int = 0
    vni: int | None = None
    src: str | None = None
    dst: str | None = None
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class VniSummary:
    vni: int
    segment: str | None
    tenant: str | None
    packets: int = 0
    bytes: int = 0
    wire_bytes: int = 0
    broadcast: int = 0
    multicast: int = 0
    unknown_unicast: int = 0
    unicast: int = 0
    max_bum_pps: int = 0
    max_inner_len: int = 0
    vteps: list[str] = field(default_factory=list)

    @property
    def bum(self) -> int:
        return self.broadcast + self.multicast + self.unknown_unicast


@dataclass
class PairSummary:
    src: str
    dst: str
    src_name: str | None
    dst_name: str | None
    vni: int
    counters: dict[str, int]
    max_inner_len: int
    first_ns: int
    last_ns: int


@dataclass
class FlowSummary:
    vni: int
    tenant: str | None
    ethertype: str
    src: str
    dst: str
    proto: str
    sport: int
    dport: int
    packets: int
    bytes: int
    first_ns: int
    last_ns: int


class TenantTotals(TypedDict):
    """One tenant of `Report.tenants`: its VNIs' traffic added up."""

    packets: int
    bytes: int
    bum: int
    unicast: int
    vnis: list[int]


class VtepTotals(TypedDict):
    """One VTEP (outer address) of `Report.vteps`."""

    name: str | None
    sent_packets: int
    received_packets: int
    vnis: list[int]


@dataclass
class Report:
    source: str
    fabric: str | None
    packets: int
    bytes: int
    wire_bytes: int
    first_ns: int
    last_ns: int
    decode: DecodeStats
    vnis: dict[int, VniSummary]
    tenants: dict[str, TenantTotals]
    vteps: dict[str, VtepTotals]
    pairs: list[PairSummary]
    flows: list[FlowSummary]
    anomalies: list[Anomaly]
    variants: dict[str, int]
    udp_ports: dict[int, int]

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.last_ns - self.first_ns) / NS) if self.packets else 0.0

    def as_dict(self) -> dict[str, object]:
        """The JSON document of `vxauto monitor pcap --json`."""
        return {
            "source": self.source,
            "fabric": self.fabric,
            "packets": self.packets,
            "bytes": self.bytes,
            "wire_bytes": self.wire_bytes,
            "first_seen": self.first_ns / NS if self.packets else None,
            "last_seen": self.last_ns / NS if self.packets else None,
            "duration_s": self.duration_s,
            "decode": self.decode.as_dict(),
            "variants": self.variants,
            "udp_ports": {str(port): count for port, count in sorted(self.udp_ports.items())},
            "vnis": {str(vni): {k: v for k, v in asdict(s).items() if k != "vni"} | {"bum": s.bum}
                     for vni, s in sorted(self.vnis.items())},
            "tenants": self.tenants,
            "vteps": self.vteps,
            "pairs": [_pair_dict(p) for p in self.pairs],
            "flows": [_flow_dict(f) for f in self.flows],
            "anomalies": [asdict(a) for a in self.anomalies],
        }


def _pair_dict(pair: PairSummary) -> dict[str, object]:
    return {
        "src": pair.src, "dst": pair.dst, "src_name": pair.src_name, "dst_name": pair.dst_name, "vni": pair.vni,
        **pair.counters, "max_inner_len": pair.max_inner_len,
        "first_seen": pair.first_ns / NS, "last_seen": pair.last_ns / NS,
    }


def _flow_dict(flow: FlowSummary) -> dict[str, object]:
    values = asdict(flow)
    values["first_seen"], values["last_seen"] = values.pop("first_ns") / NS, values.pop("last_ns") / NS
    return values


@lru_cache(maxsize=65_536)
def _address(hi: int, lo: int) -> str:
    return address_text(hi, lo)


class Analyzer:
    """Accumulates decoded packets; `report()` summarises and checks them (call it any time)."""

    def __init__(self, intent: IntentView | None = None, thresholds: Thresholds | None = None) -> None:
        self.intent = intent
        self.thresholds = thresholds or Thresholds()
        if intent is not None:
            self.thresholds.overlay_mtu = self.thresholds.overlay_mtu or intent.overlay_mtu
            self.thresholds.underlay_mtu = self.thresholds.underlay_mtu or intent.underlay_mtu
        self.pairs: dict[tuple[int, ...], list[int]] = {}
        self.flows: dict[tuple[int, ...], list[int]] = {}
        self.flow_ports: dict[tuple[int, ...], dict[tuple[int, ...], int]] = defaultdict(dict)
        self.unicast_targets: dict[tuple[int, ...], Counter[tuple[int, int]]] = defaultdict(Counter)
        self.bum_seconds: Counter[tuple[int, int]] = Counter()
        self.inner_vlans: dict[tuple[int, ...], set[int]] = defaultdict(set)
        self.udp_ports: Counter[int] = Counter()
        self.variants: Counter[str] = Counter()
        self.packets = 0
        self._pair_groups: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._pending: list[PacketTable] = []
        self._pending_rows = 0

    def add(self, table: PacketTable) -> None:
        if not len(table):
            return
        self._pending.append(table)
        self._pending_rows += len(table)
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        table = PacketTable.concat(self._pending)
        self._pending, self._pending_rows = [], 0
        self.packets += len(table)
        self._fold_pairs(table)
        self._fold_flows(table)
        self._fold_bum(table)
        self._fold_ports_and_variants(table)

    # --- folding one batch ---------------------------------------------------------------------------

    def _fold_pairs(self, t: PacketTable) -> None:
        keys = (t.outer_src_hi, t.outer_src_lo, t.outer_dst_hi, t.outer_dst_lo, t.vni)
        first, inverse = groupby.group(*keys)
        self._pair_groups = (first, inverse)  # reused by the flow folding of the same batch
        count = len(first)
        has_mac = t.inner_status != INNER_NOT_ETHERNET
        group_addressed = has_mac & ((t.inner_dst_mac & np.uint64(GROUP_BIT)) != 0)
        broadcast = has_mac & (t.inner_dst_mac == np.uint64(BROADCAST))
        tagged = t.inner_tags > 0
        inner_ip_len = t.inner_len - np.where(has_mac, 14 + 4 * t.inner_tags.astype(np.int64), 0)
        limits = self.thresholds
        offloaded = (t.inner_len > MAX_WIRE_FRAME) | ((t.outer_ip_len > MAX_WIRE_FRAME) & ~t.fragmented)
        no = np.zeros(len(t), np.bool_)
        inner_oversize = (inner_ip_len > limits.overlay_mtu) & ~offloaded if limits.overlay_mtu else no
        outer_oversize = (
            (t.outer_ip_len > limits.underlay_mtu) & ~t.fragmented & ~offloaded if limits.underlay_mtu else no
        )
        values = {
            "packets": None, "bytes": t.inner_len, "wire_bytes": t.wire_len, "broadcast": broadcast,
            "multicast": group_addressed & ~broadcast, "tagged": tagged, "inner_oversize": inner_oversize,
            "outer_oversize": outer_oversize, "fragmented": t.fragmented, "no_i_flag": (t.flag_problems & 1) != 0,
            "reserved_bits": (t.flag_problems & 2) != 0, "gbp": t.variant == VARIANT_GBP,
            "gpe": t.variant == VARIANT_GPE, "inner_problems": (t.inner_status != INNER_OK) & has_mac,
            "offloaded": offloaded,
        }
        totals = [groupby.sums(inverse, count, None if v is None else v.astype(np.int64)) for v in values.values()]
        max_len = groupby.maximum(inverse, count, t.inner_len)
        first_ns = groupby.minimum(inverse, count, t.ts_ns)
        last_ns = groupby.maximum(inverse, count, t.ts_ns)
        for index, key in enumerate(zip(*(k[first].tolist() for k in keys), strict=True)):
            entry = self.pairs.get(key)
            new = [int(total[index]) for total in totals]
            if entry is None:
                self.pairs[key] = [*new, int(max_len[index]), int(first_ns[index]), int(last_ns[index])]
                continue
            for position, value in enumerate(new):
                entry[position] += value
            size = len(PAIR_COUNTERS)
            entry[size] = max(entry[size], int(max_len[index]))
            entry[size + 1] = min(entry[size + 1], int(first_ns[index]))
            entry[size + 2] = max(entry[size + 2], int(last_ns[index]))
        self._fold_inner_vlans(t, tagged)
        self._fold_unicast_targets(t, has_mac & ~group_addressed)

    def _fold_inner_vlans(self, t: PacketTable, tagged: np.ndarray) -> None:
        if not tagged.any():
            return
        rows = t.select(tagged)
        keys = (rows.outer_src_hi, rows.outer_src_lo, rows.outer_dst_hi, rows.outer_dst_lo, rows.vni, rows.inner_vlan)
        first, _ = groupby.group(*keys)
        for *pair, vlan in zip(*(k[first].tolist() for k in keys), strict=True):
            self.inner_vlans[tuple(pair)].add(vlan)

    def _fold_unicast_targets(self, t: PacketTable, unicast: np.ndarray) -> None:
        """Unicast inner destinations per (source VTEP, VNI): sent to several VTEPs means flooded."""
        rows = t.select(unicast)
        if not len(rows):
            return
        keys = (rows.outer_src_hi, rows.outer_src_lo, rows.vni, rows.inner_dst_mac, rows.outer_dst_hi,
                rows.outer_dst_lo)
        first, inverse = groupby.group(*keys)
        counts = groupby.sums(inverse, len(first))
        for (src_hi, src_lo, vni, mac, dst_hi, dst_lo), count in zip(
            zip(*(k[first].tolist() for k in keys), strict=True), counts.tolist(), strict=True
        ):
            self.unicast_targets[(src_hi, src_lo, vni, mac)][(dst_hi, dst_lo)] += count

    def _fold_flows(self, t: PacketTable) -> None:
        keys = (t.vni, t.inner_ethertype, t.inner_src_hi, t.inner_src_lo, t.inner_dst_hi, t.inner_dst_lo,
                t.inner_proto, t.inner_sport, t.inner_dport)
        first, inverse = groupby.group(*keys)
        count = len(first)
        packets, octets = groupby.sums(inverse, count), groupby.sums(inverse, count, t.inner_len)
        first_ns, last_ns = groupby.minimum(inverse, count, t.ts_ns), groupby.maximum(inverse, count, t.ts_ns)
        flow_keys = list(zip(*(k[first].tolist() for k in keys), strict=True))
        for index, key in enumerate(flow_keys):
            entry = self.flows.get(key)
            if entry is None:
                self.flows[key] = [int(packets[index]), int(octets[index]), int(first_ns[index]), int(last_ns[index])]
            else:
                entry[0] += int(packets[index])
                entry[1] += int(octets[index])
                entry[2] = min(entry[2], int(first_ns[index]))
                entry[3] = max(entry[3], int(last_ns[index]))
        # The UDP source port each VTEP pair used for each inner flow (the ECMP entropy check). Flows
        # include the VNI, so (pair x VNI group, flow) is (pair, flow), counted without a sort.
        pairs_first, pairs_inverse = self._pair_groups
        pair_first, _ = groupby.group_codes((pairs_inverse, inverse), (len(pairs_first), count))
        pair_keys = (t.outer_src_hi, t.outer_src_lo, t.outer_dst_hi, t.outer_dst_lo, inverse)
        sports = t.udp_sport[pair_first].tolist()
        for (src_hi, src_lo, dst_hi, dst_lo, flow), sport in zip(
            zip(*(k[pair_first].tolist() for k in pair_keys), strict=True), sports, strict=True
        ):
            known = self.flow_ports[(src_hi, src_lo, dst_hi, dst_lo)]
            if len(known) < MAX_FLOWS_PER_PAIR:
                known.setdefault(flow_keys[flow], sport)

    def _fold_bum(self, t: PacketTable) -> None:
        has_mac = t.inner_status != INNER_NOT_ETHERNET
        bum = has_mac & ((t.inner_dst_mac & np.uint64(GROUP_BIT)) != 0)
        if not bum.any():
            return
        vni, second = t.vni[bum], t.ts_ns[bum] // NS
        first, inverse = groupby.group(vni, second)
        counts = groupby.sums(inverse, len(first))
        for key, count in zip(zip(vni[first].tolist(), second[first].tolist(), strict=True), counts.tolist(),
                              strict=True):
            self.bum_seconds[key] += count

    def _fold_ports_and_variants(self, t: PacketTable) -> None:
        ports, counts = np.unique(t.udp_dport, return_counts=True)
        for port, count in zip(ports.tolist(), counts.tolist(), strict=True):
            self.udp_ports[port] += count
        variants, counts = np.unique(t.variant, return_counts=True)
        for variant, count in zip(variants.tolist(), counts.tolist(), strict=True):
            self.variants[VARIANT_NAMES[variant]] += count

    # --- the report ----------------------------------------------------------------------------------

    def report(self, stats: DecodeStats | None = None, source: str = "<capture>") -> Report:
        from vxauto.monitor.checks import find_anomalies

        self.flush()
        stats = stats or DecodeStats()
        pairs = self._pair_summaries()
        vnis = self._vni_summaries(pairs)
        report = Report(
            source=source,
            fabric=self.intent.fabric if self.intent else None,
            packets=self.packets,
            bytes=sum(p.counters["bytes"] for p in pairs),
            wire_bytes=sum(p.counters["wire_bytes"] for p in pairs),
            first_ns=min((p.first_ns for p in pairs), default=0),
            last_ns=max((p.last_ns for p in pairs), default=0),
            decode=stats,
            vnis=vnis,
            tenants=self._tenants(vnis),
            vteps=self._vteps(pairs),
            pairs=pairs,
            flows=self._flow_summaries(),
            anomalies=[],
            variants=dict(sorted(self.variants.items())),
            udp_ports=dict(sorted(self.udp_ports.items())),
        )
        report.anomalies = find_anomalies(self, report)
        return report

    def _name(self, address: str) -> str | None:
        return self.intent.name_of(address) if self.intent else None

    def _pair_summaries(self) -> list[PairSummary]:
        size = len(PAIR_COUNTERS)
        result = []
        for (src_hi, src_lo, dst_hi, dst_lo, vni), entry in self.pairs.items():
            src, dst = _address(src_hi, src_lo), _address(dst_hi, dst_lo)
            result.append(PairSummary(src, dst, self._name(src), self._name(dst), vni,
                                      dict(zip(PAIR_COUNTERS, entry[:size], strict=True)), *entry[size:]))
        return sorted(result, key=lambda p: (p.vni, p.src, p.dst))

    def _vni_summaries(self, pairs: list[PairSummary]) -> dict[int, VniSummary]:
        vnis: dict[int, VniSummary] = {}
        for pair in pairs:
            info = self.intent.segments.get(pair.vni) if self.intent else None
            summary = vnis.setdefault(
                pair.vni, VniSummary(pair.vni, info.name if info else None, info.tenant if info else None)
            )
            counters = pair.counters
            summary.packets += counters["packets"]
            summary.bytes += counters["bytes"]
            summary.wire_bytes += counters["wire_bytes"]
            summary.broadcast += counters["broadcast"]
            summary.multicast += counters["multicast"]
            summary.max_inner_len = max(summary.max_inner_len, pair.max_inner_len)
            for address in (pair.src, pair.dst):
                if address not in summary.vteps:
                    summary.vteps.append(address)
        for (_src_hi, _src_lo, vni, _mac), targets in self.unicast_targets.items():
            if len(targets) > 1 and vni in vnis:  # one unicast frame replicated to several VTEPs: flooded
                vnis[vni].unknown_unicast += sum(targets.values())
        for (vni, _second), count in self.bum_seconds.items():
            if vni in vnis:
                vnis[vni].max_bum_pps = max(vnis[vni].max_bum_pps, count)
        for summary in vnis.values():
            summary.unicast = summary.packets - summary.bum
            summary.vteps.sort()
        return dict(sorted(vnis.items()))

    def _tenants(self, vnis: dict[int, VniSummary]) -> dict[str, TenantTotals]:
        if self.intent is None:
            return {}
        tenants: dict[str, TenantTotals] = {}
        for vni, summary in vnis.items():
            name = summary.tenant or "(not in intent)"
            entry = tenants.setdefault(name, {"packets": 0, "bytes": 0, "bum": 0, "unicast": 0, "vnis": []})
            entry["packets"] += summary.packets
            entry["bytes"] += summary.bytes
            entry["bum"] += summary.bum
            entry["unicast"] += summary.unicast
            entry["vnis"].append(vni)
        return dict(sorted(tenants.items()))

    def _vteps(self, pairs: list[PairSummary]) -> dict[str, VtepTotals]:
        vteps: dict[str, VtepTotals] = {}
        for pair in pairs:
            ends: tuple[tuple[str, Literal["sent_packets", "received_packets"]], ...] = (
                (pair.src, "sent_packets"), (pair.dst, "received_packets"),
            )
            for address, packets_key in ends:
                entry = vteps.setdefault(address, {"name": self._name(address), "sent_packets": 0,
                                                   "received_packets": 0, "vnis": []})
                entry[packets_key] += pair.counters["packets"]
                if pair.vni not in entry["vnis"]:
                    entry["vnis"].append(pair.vni)
        for entry in vteps.values():
            entry["vnis"].sort()
        return dict(sorted(vteps.items()))

    def _flow_summaries(self) -> list[FlowSummary]:
        flows = []
        for (vni, ethertype, src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport), entry in self.flows.items():
            is_ip = ethertype in (0x0800, 0x86DD, 0x0806)
            src = _address(src_hi, src_lo) if is_ip else mac_text(src_lo)
            dst = _address(dst_hi, dst_lo) if is_ip else mac_text(dst_lo)
            flows.append(FlowSummary(
                vni, self.intent.tenant_of(vni) if self.intent else None,
                ETHERTYPE_NAMES.get(ethertype, f"0x{ethertype:04x}"), src, dst,
                PROTOCOL_NAMES.get(proto, str(proto)), sport, dport, *entry,
            ))
        return sorted(flows, key=lambda f: (-f.bytes, f.vni, f.src, f.dst, f.sport, f.dport))
