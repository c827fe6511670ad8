"""Aggregating decoded VXLAN packets: per VNI, tenant, VTEP pair and inner flow.

`Analyzer` takes `PacketTable` batches (from a file or a live capture) and folds them into
`KeyedCounters` (store.py): numpy arrays combined with sorts, no Python object per flow. Counters per
VNI, tenant, VTEP pair and VTEP are exact. Inner flows are exact up to `max_flows` distinct flows; past
that the flow table is a heavy-hitter summary with a proven error bound (store.py), and the report says
which of the two it holds (`Report.flow_summary`). Memory is bounded by `max_flows`, the VTEP pairs and
the seconds of the capture, never by the number of packets. Two analyzers `merge` associatively (many
captures or workers, one view). `Analyzer.report()` turns the state into a `Report` (plain data, ready
for JSON, CSV, HTML, Prometheus and IPFIX) with the top flows and runs the checks of `checks.py`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Literal, TypedDict

import numpy as np

from vxauto.monitor import groupby
from vxauto.monitor.decode import DecodeStats
from vxauto.monitor.intent import IntentView
from vxauto.monitor.store import KeyedCounters
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
#: Inner flows counted exactly; past this many the flow table is a heavy-hitter summary of this size.
MAX_FLOWS = 1 << 20
#: Flows in the report (and its JSON, CSV, HTML, IPFIX) unless asked otherwise: the top ones by bytes.
TOP_FLOWS = 100
#: Inner flows sampled per VTEP pair for the source-port entropy check: those with the smallest flow hash,
#: a uniform sample that merges exactly (the same flows are picked whatever the order of the packets).
ENTROPY_SAMPLE = 1024
#: Flow hashes kept to estimate the number of distinct flows once the flow table is a summary (KMV).
DISTINCT_SAMPLE = 4096
ALL_ONES = 0xFFFF_FFFF_FFFF_FFFF
#: Rows of a batch hashed first to decide whether the batch repeats rows enough to collapse them.
COLLAPSE_SAMPLE = 4096
#: Collapse a batch when it is estimated to hold at least this many packets per distinct row.
COLLAPSE_GAIN = 3

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
class FlowSummaryInfo:
    """What the flow part of a report is: every flow (exact) or a heavy-hitter summary, and its bound."""

    mode: Literal["exact", "heavy-hitters"]
    flows: int  # distinct flows: exact, or estimated from a sample of flow hashes (heavy-hitters)
    tracked: int  # flows held in the table
    capacity: int
    error_bytes: int  # heavy-hitters: listed byte counts are at most this much below the truth
    total_bytes: int

    def as_dict(self) -> dict[str, object]:
        exact = self.mode == "exact"
        return {
            "mode": self.mode, "flows": self.flows, "flows_estimated": not exact, "tracked": self.tracked,
            "capacity": self.capacity, "error_bytes": self.error_bytes,
            "bound": "exact counts of every flow" if exact else
            f"Misra-Gries summary of {self.capacity} flows ranked by inner bytes: each listed flow's bytes are at "
            f"most error_bytes ({self.error_bytes} <= total/(capacity+1) = "
            f"{self.total_bytes // (self.capacity + 1)}) below its true bytes; a flow not listed has at most "
            "error_bytes bytes; packets and first/last seen count what was seen while the flow was tracked; "
            "'flows' is estimated from the 4096 smallest flow hashes (about 1.6% standard error)",
        }


@dataclass
class TimeSeries:
    """Packets and BUM packets per time bucket (`step` seconds from `start`), per VNI and per VTEP pair."""

    start: int  # seconds since the epoch
    step: int
    vnis: dict[int, tuple[list[int], list[int]]]  # VNI -> (packets, BUM packets) per bucket
    pairs: dict[tuple[str, str], tuple[list[int], list[int]]]  # (source, destination) -> the same

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start, "step_s": self.step,
            "vnis": {str(v): {"packets": p, "bum": b} for v, (p, b) in self.vnis.items()},
            "pairs": [{"src": s, "dst": d, "packets": p, "bum": b} for (s, d), (p, b) in self.pairs.items()],
        }


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
    flow_summary: FlowSummaryInfo | None = None
    series: TimeSeries | None = None
    captures: dict[str, object] | None = None  # several captures merged: which, and how duplicates were matched

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
            **({"captures": self.captures} if self.captures is not None else {}),
            "flow_summary": self.flow_info().as_dict(),
            "flows": [_flow_dict(f) for f in self.flows],
            "anomalies": [asdict(a) for a in self.anomalies],
        }

    def flow_info(self) -> FlowSummaryInfo:
        """How the flows were counted (reports built by hand, as in tests, list every flow exactly)."""
        if self.flow_summary is not None:
            return self.flow_summary
        count = len(self.flows)
        return FlowSummaryInfo("exact", count, count, count, 0, self.bytes)


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


def addresses_text(hi: list[int], lo: list[int]) -> list[str]:
    """Text of many addresses at once: IPv4-mapped ones formatted directly (the common case, fast)."""
    out = []
    for high, low in zip(hi, lo, strict=True):
        if high == 0 and low >> 32 == 0xFFFF:
            out.append(f"{(low >> 24) & 255}.{(low >> 16) & 255}.{(low >> 8) & 255}.{low & 255}")
        else:
            out.append(address_text(high, low))
    return out


def _pack_flow(t: PacketTable) -> list[np.ndarray]:
    """The inner flow key of every packet as six 64-bit words (addresses, VNI/ethertype/protocol, ports)."""
    u64 = np.uint64
    meta = (t.vni.astype(u64) << u64(24)) | (t.inner_ethertype.astype(u64) << u64(8)) | t.inner_proto.astype(u64)
    ports = (t.inner_sport.astype(u64) << u64(16)) | t.inner_dport.astype(u64)
    return [t.inner_src_hi, t.inner_src_lo, t.inner_dst_hi, t.inner_dst_lo, meta, ports]


@dataclass
class Rows:
    """Decoded packets as the folds take them: each row of `table` stands for `weight` packets that differ in
    nothing the folds read but their timestamps, seen first at `first` and last at `last` (within one
    second: the second is part of what is equal)."""

    table: PacketTable
    weight: np.ndarray
    first: np.ndarray
    last: np.ndarray

    @classmethod
    def each(cls, table: PacketTable) -> Rows:
        """Every packet its own row."""
        return cls(table, np.ones(len(table), np.int64), table.ts_ns, table.ts_ns)

    @classmethod
    def concat(cls, parts: list[Rows]) -> Rows:
        if len(parts) == 1:
            return parts[0]
        return cls(PacketTable.concat([p.table for p in parts]), *(np.concatenate([getattr(p, name) for p in parts])
                                                                      for name in ("weight", "first", "last")))


def _fold_words(t: PacketTable) -> list[np.ndarray] | None:
    """Everything the folds read of a packet but its timestamp below the second, packed into 13 words; None
    if a value does not fit its field (then the batch is folded row by row)."""
    u64 = np.uint64
    second = t.ts_ns // NS
    second = second - second.min()
    lengths = (t.inner_len, t.outer_ip_len, t.wire_len, second)
    if any(int(v.min()) < 0 or int(v.max()) >= 1 << 32 for v in lengths) or int(t.inner_tags.max()) > 3:
        return None
    small = (t.inner_dst_mac | (t.inner_status.astype(u64) << u64(48)) | (t.inner_tags.astype(u64) << u64(50))
             | (t.fragmented.astype(u64) << u64(52)) | (t.flag_problems.astype(u64) << u64(53))
             | (t.variant.astype(u64) << u64(56)))
    meta = (t.vni.astype(u64) | (t.inner_ethertype.astype(u64) << u64(24)) | (t.inner_proto.astype(u64) << u64(40))
            | (t.inner_vlan.astype(u64) << u64(48)))
    ports = (t.inner_sport.astype(u64) | (t.inner_dport.astype(u64) << u64(16)) | (t.udp_sport.astype(u64) << u64(32))
             | (t.udp_dport.astype(u64) << u64(48)))
    sizes = t.inner_len.astype(u64) | (t.outer_ip_len.astype(u64) << u64(32))
    when = t.wire_len.astype(u64) | (second.astype(u64) << u64(32))
    return [t.outer_src_hi, t.outer_src_lo, t.outer_dst_hi, t.outer_dst_lo, t.inner_src_hi, t.inner_src_lo,
            t.inner_dst_hi, t.inner_dst_lo, small, meta, ports, sizes, when]


def _worth_collapsing(table: PacketTable) -> bool:
    """Whether `count` rows hold at least COLLAPSE_GAIN packets per distinct row, judged from an evenly spread
    sample of m rows: drawing m of D distinct rows gives about D (1 - exp(-m / D)) distinct ones, solved
    for D (bisection; the whole batch when it is the sample)."""
    count = len(table)
    step = max(1, count // COLLAPSE_SAMPLE)
    words = _fold_words(PacketTable({name: column[::step] for name, column in table.columns.items()}))
    if words is None:
        return False
    sample = groupby._hash(tuple(words))
    drawn, seen = len(sample), len(groupby.distinct(sample))
    if step == 1:
        return count >= COLLAPSE_GAIN * seen
    low, high = float(seen), float(count)
    if seen == drawn or high * -math.expm1(-drawn / high) <= seen:
        return False  # as many distinct rows as the batch can hold
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if middle * -math.expm1(-drawn / middle) < seen else (low, middle)
    return count >= COLLAPSE_GAIN * high


def collapse(table: PacketTable) -> Rows:
    """The packets of `table` with identical rows (timestamps aside, see Rows) folded into one weighted row.

    Captures repeat packets a lot (a flow's full-size segments, a flood, a replay): the folds then sort and
    add up far fewer rows. A batch where a sample of rows is mostly distinct (a scan) is left as it is, so
    it pays only for the sample. Grouping is by a hash of the packed rows, checked word by word: rows
    with equal hashes but different words (a collision) leave the batch row by row, so the counts stay exact.
    """
    count = len(table)
    words = _fold_words(table) if count and _worth_collapsing(table) else None
    if words is None:
        return Rows.each(table)
    hashed = groupby._hash(tuple(words))
    order = np.argsort(hashed)
    ordered = hashed[order]
    starts_mask = np.empty(count, np.bool_)
    starts_mask[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_mask[1:])
    starts = np.flatnonzero(starts_mask)
    # Every row against its group's first row: a gather from the few first rows, which stay in cache.
    inverse = np.empty(count, np.int64)
    inverse[order] = np.cumsum(starts_mask) - 1
    chosen = order[starts]
    if any((word[chosen][inverse] != word).any() for word in words):
        return Rows.each(table)  # a hash collision: row by row, exact
    ts = table.ts_ns[order]
    return Rows(table.select(chosen), np.diff(np.append(starts, count)),
                np.minimum.reduceat(ts, starts), np.maximum.reduceat(ts, starts))


def _bottom(hashes: np.ndarray, count: int) -> np.ndarray:
    """The `count` smallest distinct values of `hashes`, sorted."""
    return groupby.distinct(hashes)[:count]


class Analyzer:
    """Accumulates decoded packets; `report()` summarises and checks them (call it any time)."""

    def __init__(self, intent: IntentView | None = None, thresholds: Thresholds | None = None,
                 max_flows: int = MAX_FLOWS, top_flows: int = TOP_FLOWS) -> None:
        self.intent = intent
        self.thresholds = thresholds or Thresholds()
        if intent is not None:
            self.thresholds.overlay_mtu = self.thresholds.overlay_mtu or intent.overlay_mtu
            self.thresholds.underlay_mtu = self.thresholds.underlay_mtu or intent.underlay_mtu
        self.top_flows = top_flows
        pair_ops: dict[str, Literal["sum", "min", "max"]] = dict.fromkeys(PAIR_COUNTERS, "sum")
        #: (outer source hi/lo, outer destination hi/lo, VNI) -> the PAIR_COUNTERS, largest inner frame, first/last
        self.pairs = KeyedCounters(5, pair_ops | {"max_len": "max", "first": "min", "last": "max"})
        #: packed inner flow key (_pack_flow) -> bytes, packets, first/last seen
        self.flows = KeyedCounters(6, {"bytes": "sum", "packets": "sum", "first": "min", "last": "max"},
                                   capacity=max_flows, weight="bytes")
        #: (outer source, outer destination, flow hash) -> UDP source port (the entropy check's sample)
        self.flow_sample = KeyedCounters(5, {"sport": "min"})
        self._sample_limit: dict[tuple[int, ...], int] = {}
        #: (outer source, VNI, inner destination MAC, outer destination) -> unicast packets
        self.unicast = KeyedCounters(6, {"packets": "sum"})
        #: (outer source, outer destination, VNI, second) -> packets, BUM packets: rates and time series
        #: (VNI, second) and (outer source, outer destination, second) -> packets, BUM packets: kept apart, not
        #: per (pair, VNI), so they grow with the seconds times (VNIs + pairs), not times their product
        self.vni_seconds = KeyedCounters(2, {"packets": "sum", "bum": "sum"})
        self.pair_seconds = KeyedCounters(5, {"packets": "sum", "bum": "sum"})
        #: (outer source, outer destination, VNI, inner VLAN) -> tagged packets
        self.vlans = KeyedCounters(6, {"packets": "sum"})
        self.distinct = np.zeros(0, np.uint64)  # the smallest flow hashes (estimates distinct flows)
        self.udp_ports: Counter[int] = Counter()
        self.variants: Counter[str] = Counter()
        self.packets = 0
        # Views for the checks, filled by report().
        self.inner_vlans: dict[tuple[int, ...], set[int]] = {}
        self.flow_ports: dict[tuple[int, ...], np.ndarray] = {}
        self.bum_seconds: Counter[tuple[int, int]] = Counter()
        self._pending: list[Rows] = []  # batches waiting to be folded, collapsed (see collapse)
        self._pending_rows = 0
        self.collapse = True  # fold identical packets of a batch as one weighted row (tests compare both)

    def add(self, table: PacketTable) -> None:
        if not len(table):
            return
        self.packets += len(table)
        rows = collapse(table) if self.collapse else Rows.each(table)
        self._pending.append(rows)
        self._pending_rows += len(rows.table)
        if self._pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows = Rows.concat(self._pending)
        self._pending, self._pending_rows = [], 0
        pair_first, pair_inverse = self._fold_pairs(rows)
        self._fold_flows(rows, pair_first, pair_inverse)
        self._fold_seconds(rows, pair_first, pair_inverse)
        self._fold_ports_and_variants(rows)

    def merge(self, other: Analyzer) -> None:
        """Add another analyzer's counts (another capture, worker or time slice): associative, commutative."""
        other.flush()
        self.flush()
        for mine, theirs in zip(self._stores(), other._stores(), strict=True):
            mine.merge(theirs)
        self._trim_sample()
        self.distinct = _bottom(np.concatenate([self.distinct, other.distinct]), DISTINCT_SAMPLE)
        self.udp_ports.update(other.udp_ports)
        self.variants.update(other.variants)
        self.packets += other.packets

    def _stores(self) -> tuple[KeyedCounters, ...]:
        return (self.pairs, self.flows, self.flow_sample, self.unicast, self.vni_seconds, self.pair_seconds,
                self.vlans)

    def __getstate__(self) -> dict[str, object]:
        # Sent to or from a worker: combine the rows still waiting (per packet, much bigger than the result).
        self.flush()
        for store in self._stores():
            store.compact()
        return self.__dict__

    # --- folding one batch ---------------------------------------------------------------------------

    def _fold_pairs(self, batch: Rows) -> tuple[np.ndarray, np.ndarray]:
        t, weight = batch.table, batch.weight
        keys = (t.outer_src_hi, t.outer_src_lo, t.outer_dst_hi, t.outer_dst_lo, t.vni)
        first, inverse = groupby.group(*keys)
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
        totals = {name: groupby.sums(inverse, count, weight if v is None else v.astype(np.int64) * weight)
                  for name, v in values.items()}
        totals["max_len"] = groupby.maximum(inverse, count, t.inner_len)
        totals["first"] = groupby.minimum(inverse, count, batch.first)
        totals["last"] = groupby.maximum(inverse, count, batch.last)
        self.pairs.add([k[first] for k in keys], totals)
        if tagged.any():
            rows = t.select(tagged)
            self.vlans.add([rows.outer_src_hi, rows.outer_src_lo, rows.outer_dst_hi, rows.outer_dst_lo, rows.vni,
                            rows.inner_vlan], {"packets": weight[tagged]})
        # Unicast inner destinations per (source VTEP, VNI): one frame sent to several VTEPs was flooded.
        unicast = np.flatnonzero(has_mac & ~group_addressed)
        if len(unicast):
            self.unicast.add([t.outer_src_hi[unicast], t.outer_src_lo[unicast], t.vni[unicast],
                              t.inner_dst_mac[unicast], t.outer_dst_hi[unicast], t.outer_dst_lo[unicast]],
                             {"packets": weight[unicast]})
        return first, inverse

    def _fold_flows(self, batch: Rows, pair_first: np.ndarray, pair_inverse: np.ndarray) -> None:
        t = batch.table
        words = _pack_flow(t)
        flow_hash = groupby._hash(tuple(words))
        # Packets go into the flow table as they are: it combines them with one sort when enough have
        # gathered (as many as it holds), so the cost stays a few sorts per million packets.
        self.flows.add(words, {"bytes": t.inner_len * batch.weight, "packets": batch.weight, "first": batch.first,
                               "last": batch.last}, flow_hash)
        self._fold_distinct(flow_hash)
        # The entropy sample: (VTEP pair, flow) with the UDP source port, only where the flow can enter it.
        pair_keys = [k[pair_first] for k in (t.outer_src_hi, t.outer_src_lo, t.outer_dst_hi, t.outer_dst_lo)]
        limits = np.array([self._sample_limit.get(key, ALL_ONES) for key in zip(
            *(k.tolist() for k in pair_keys), strict=True)], np.uint64)
        wanted = np.flatnonzero(flow_hash <= limits[pair_inverse])
        if len(wanted):
            self.flow_sample.add(
                [t.outer_src_hi[wanted], t.outer_src_lo[wanted], t.outer_dst_hi[wanted], t.outer_dst_lo[wanted],
                 flow_hash[wanted]], {"sport": t.udp_sport[wanted].astype(np.int64)})
            self._trim_sample()

    def _fold_distinct(self, flow_hash: np.ndarray) -> None:
        """Keep the DISTINCT_SAMPLE smallest flow hashes (KMV estimate of the number of flows)."""
        if len(self.distinct) == DISTINCT_SAMPLE:
            flow_hash = flow_hash[flow_hash < self.distinct[-1]]
        elif len(flow_hash) > 4 * DISTINCT_SAMPLE:
            # The smallest values are among the 4 x k smallest unless the batch repeats flows a lot.
            cut = np.partition(flow_hash, 4 * DISTINCT_SAMPLE)[4 * DISTINCT_SAMPLE]
            smallest = groupby.distinct(flow_hash[flow_hash <= cut])
            flow_hash = smallest if len(smallest) >= DISTINCT_SAMPLE else flow_hash
        self.distinct = _bottom(np.concatenate([self.distinct, flow_hash]), DISTINCT_SAMPLE)

    def _trim_sample(self) -> None:
        """Keep the ENTROPY_SAMPLE smallest flow hashes of every VTEP pair."""
        store = self.flow_sample
        store.compact()
        if len(store.keys[0]) <= ENTROPY_SAMPLE:
            return
        pair_first, pair_inverse = groupby.group(*store.keys[:4])
        # Sorted by hash, then (stable) by pair: a radix sort when pairs fit 16 bits.
        by_hash = np.argsort(store.keys[4])
        pair_codes = pair_inverse[by_hash]
        if len(pair_first) < 1 << 16:
            pair_codes = pair_codes.astype(np.uint16)
        order = by_hash[np.argsort(pair_codes, kind="stable")]
        grouped = pair_inverse[order]
        starts = np.searchsorted(grouped, np.arange(len(pair_first)))
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order)) - starts[grouped]
        full = np.flatnonzero(np.bincount(pair_inverse, minlength=len(pair_first)) >= ENTROPY_SAMPLE)
        limits = store.keys[4][order[starts[full] + ENTROPY_SAMPLE - 1]].tolist()
        pair_rows = pair_first[full]
        for key, limit in zip(zip(*(k[pair_rows].tolist() for k in store.keys[:4]), strict=True), limits, strict=True):
            self._sample_limit[key] = limit  # later flows of a full pair enter only below this hash
        store.filter(rank < ENTROPY_SAMPLE)

    def _fold_seconds(self, batch: Rows, pair_first: np.ndarray, pair_inverse: np.ndarray) -> None:
        t, weight = batch.table, batch.weight
        second = batch.first // NS  # a collapsed row's packets share their second
        low = int(second.min())
        has_mac = t.inner_status != INNER_NOT_ETHERNET
        bum = (has_mac & ((t.inner_dst_mac & np.uint64(GROUP_BIT)) != 0)).astype(np.int64) * weight
        span = int(second.max()) - low + 1
        first, inverse = groupby.group_codes((pair_inverse, second - low), (len(pair_first), span))
        count = len(first)
        row = pair_first[pair_inverse[first]]  # a packet of each (pair x VNI, second) group
        totals = {"packets": groupby.sums(inverse, count, weight), "bum": groupby.sums(inverse, count, bum)}
        self.vni_seconds.add([t.vni[row], second[first]], totals)
        self.pair_seconds.add([t.outer_src_hi[row], t.outer_src_lo[row], t.outer_dst_hi[row], t.outer_dst_lo[row],
                               second[first]], totals)

    def _fold_ports_and_variants(self, batch: Rows) -> None:
        t, weight = batch.table, batch.weight
        counts = groupby.sums(t.udp_dport.astype(np.int64), 1 << 16, weight)
        ports = np.flatnonzero(counts)
        for port, count in zip(ports.tolist(), counts[ports].tolist(), strict=True):
            self.udp_ports[port] += count
        variants = groupby.sums(t.variant.astype(np.int64), len(VARIANT_NAMES), weight)
        for variant, count in enumerate(variants.tolist()):
            if count:
                self.variants[VARIANT_NAMES[variant]] += count

    # --- the report ----------------------------------------------------------------------------------

    def report(self, stats: DecodeStats | None = None, source: str = "<capture>") -> Report:
        from vxauto.monitor.anomalies import find_anomalies

        self.flush()
        stats = stats or DecodeStats()
        pairs = self._pair_summaries()
        vnis = self._vni_summaries(pairs)
        self._check_views()
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
            flows=self._top_flows(self.top_flows),
            anomalies=[],
            variants=dict(sorted(self.variants.items())),
            udp_ports=dict(sorted(self.udp_ports.items())),
            flow_summary=self.flow_info(),
            series=self.time_series(),
        )
        report.anomalies = find_anomalies(self, report)
        return report

    def flow_info(self) -> FlowSummaryInfo:
        store = self.flows
        tracked = len(store)
        total = int(sum(self.pairs.values["bytes"].tolist())) if len(self.pairs) else 0
        capacity = store.capacity or tracked
        if not store.pruned:
            return FlowSummaryInfo("exact", tracked, tracked, capacity, 0, total)
        # KMV: with k smallest of n uniform hashes, n is about (k - 1) / (k-th smallest / 2^64).
        estimate = int((len(self.distinct) - 1) / ((int(self.distinct[-1]) + 1) / 2**64))
        return FlowSummaryInfo("heavy-hitters", max(estimate, tracked), tracked, capacity, store.error, total)

    def _name(self, address: str) -> str | None:
        return self.intent.name_of(address) if self.intent else None

    def _pair_summaries(self) -> list[PairSummary]:
        store = self.pairs
        store.compact()
        columns = {name: values.tolist() for name, values in store.values.items()}
        result = []
        for index, (src_hi, src_lo, dst_hi, dst_lo, vni) in enumerate(zip(*(k.tolist() for k in store.keys),
                                                                          strict=True)):
            src, dst = _address(src_hi, src_lo), _address(dst_hi, dst_lo)
            counters = {name: columns[name][index] for name in PAIR_COUNTERS}
            result.append(PairSummary(src, dst, self._name(src), self._name(dst), vni, counters,
                                      columns["max_len"][index], columns["first"][index], columns["last"][index]))
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
        for vni, count in self._unknown_unicast().items():
            if vni in vnis:
                vnis[vni].unknown_unicast += count
        for vni, peak in self._bum_peaks().items():
            if vni in vnis:
                vnis[vni].max_bum_pps = peak
        for summary in vnis.values():
            summary.unicast = summary.packets - summary.bum
            summary.vteps.sort()
        return dict(sorted(vnis.items()))

    def _unknown_unicast(self) -> dict[int, int]:
        """Unicast packets per VNI whose (source VTEP, destination MAC) went to several VTEPs: flooded."""
        store = self.unicast
        store.compact()
        if not len(store.keys[0]):
            return {}
        first, inverse = groupby.group(*store.keys[:4])
        destinations = np.bincount(inverse, minlength=len(first))
        flooded = destinations[inverse] > 1
        vnis, where = np.unique(store.keys[2][flooded], return_inverse=True)
        totals = np.bincount(where.reshape(-1), weights=store.values["packets"][flooded], minlength=len(vnis))
        return dict(zip(vnis.tolist(), totals.round().astype(np.int64).tolist(), strict=True))

    def _bum_per_second(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(VNI, second, BUM packets) over all VTEP pairs."""
        store = self.vni_seconds
        store.compact()
        return store.keys[0].astype(np.int64), store.keys[1].astype(np.int64), store.values["bum"]

    def _bum_peaks(self) -> dict[int, int]:
        vni, _second, counts = self._bum_per_second()
        if not len(vni):
            return {}
        vnis, where = np.unique(vni, return_inverse=True)
        peaks = groupby.maximum(where.reshape(-1), len(vnis), counts)
        return dict(zip(vnis.tolist(), peaks.tolist(), strict=True))

    def _check_views(self) -> None:
        """The small dictionaries the checks read: inner VLANs per pair, entropy samples, BUM per second."""
        self.vlans.compact()
        inner_vlans: dict[tuple[int, ...], set[int]] = defaultdict(set)
        for *pair, vlan in zip(*(k.tolist() for k in self.vlans.keys), strict=True):
            inner_vlans[tuple(pair)].add(vlan)
        self.inner_vlans = dict(inner_vlans)
        self._trim_sample()
        sample = self.flow_sample
        ports: dict[tuple[int, ...], np.ndarray] = {}
        if len(sample.keys[0]):
            first, inverse = groupby.group(*sample.keys[:4])
            order = np.argsort(inverse, kind="stable")
            bounds = np.searchsorted(inverse[order], np.arange(len(first) + 1))
            sports = sample.values["sport"][order]
            for group, key in enumerate(zip(*(k[first].tolist() for k in sample.keys[:4]), strict=True)):
                ports[key] = sports[bounds[group] : bounds[group + 1]]
        self.flow_ports = ports
        vni, second, counts = self._bum_per_second()
        self.bum_seconds = Counter({(v, s): c for v, s, c in zip(vni.tolist(), second.tolist(), counts.tolist(),
                                                                  strict=True) if c})

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

    # --- flows ----------------------------------------------------------------------------------------

    def _flow_order(self, limit: int | None) -> np.ndarray:
        """Rows of the flow table by bytes (descending), ties by key; only the first `limit` when given."""
        store = self.flows
        store.compact()
        octets = store.values["bytes"]
        rows = np.arange(len(octets))
        if limit is not None and limit < len(octets):
            cut = np.partition(octets, len(octets) - limit)[len(octets) - limit]
            rows = np.flatnonzero(octets >= cut)
        keys = [k[rows] for k in store.keys]
        # lexsort: last key is primary; the packed words put VNI/ethertype/protocol before addresses.
        order = np.lexsort((keys[5], keys[3], keys[2], keys[1], keys[0], keys[4], -octets[rows]))
        chosen = rows[order]
        return chosen if limit is None else chosen[:limit]

    def _top_flows(self, limit: int | None) -> list[FlowSummary]:
        return [FlowSummary(*row) for chunk in self.iter_flow_columns(limit) for row in zip(*chunk, strict=True)]

    def iter_flow_columns(self, limit: int | None = None, chunk: int = 65_536) -> Iterator[tuple[list, ...]]:
        """Flows by bytes as columns in FlowSummary's field order, `chunk` flows at a time (all with None)."""
        rows = self._flow_order(limit)
        store = self.flows
        tenant_of = self.intent.tenant_of if self.intent else None
        for begin in range(0, len(rows), chunk):
            part = rows[begin : begin + chunk]
            src_hi, src_lo, dst_hi, dst_lo = (k[part].tolist() for k in store.keys[:4])
            meta, ports = store.keys[4][part], store.keys[5][part]
            vnis = (meta >> np.uint64(24)).tolist()
            ethertypes = ((meta >> np.uint64(8)) & np.uint64(0xFFFF)).tolist()
            src, dst = addresses_text(src_hi, src_lo), addresses_text(dst_hi, dst_lo)
            for index, ethertype in enumerate(ethertypes):
                if ethertype not in (0x0800, 0x86DD, 0x0806):  # other frames: the flow is a MAC pair
                    src[index], dst[index] = mac_text(src_lo[index]), mac_text(dst_lo[index])
            yield (
                vnis, [tenant_of(v) if tenant_of else None for v in vnis],
                [ETHERTYPE_NAMES.get(e) or f"0x{e:04x}" for e in ethertypes], src, dst,
                [PROTOCOL_NAMES.get(p) or str(p) for p in (meta & np.uint64(0xFF)).tolist()],
                (ports >> np.uint64(16)).tolist(), (ports & np.uint64(0xFFFF)).tolist(),
                *(store.values[name][part].tolist() for name in ("packets", "bytes", "first", "last")),
            )

    # --- time series ----------------------------------------------------------------------------------

    def time_series(self, max_points: int = 600) -> TimeSeries:
        """Packets and BUM packets per second (or coarser buckets), per VNI and per VTEP pair."""
        vnis, pairs = self.vni_seconds, self.pair_seconds
        vnis.compact()
        pairs.compact()
        if not len(vnis.keys[0]):
            return TimeSeries(0, 1, {}, {})
        start = int(vnis.keys[1].min())
        span = int(vnis.keys[1].max()) - start + 1
        step = max(1, -(-span // max_points))
        buckets = (span - 1) // step + 1
        per_vni = self._series(vnis, vnis.keys[:1], start, step, buckets,
                               lambda key: int(key[0]))
        per_pair = self._series(pairs, pairs.keys[:4], start, step, buckets,
                                lambda key: (_address(key[0], key[1]), _address(key[2], key[3])))
        return TimeSeries(start, step, dict(sorted(per_vni.items())), dict(sorted(per_pair.items())))

    @staticmethod
    def _series(store: KeyedCounters, keys: list[np.ndarray], start: int, step: int, buckets: int,
                label: Callable[[tuple[int, ...]], object]) -> dict:
        first, inverse = groupby.group(*keys)
        bucket = (store.keys[-1].astype(np.int64) - start) // step
        flat = inverse * buckets + bucket
        size = len(first) * buckets
        out = {}
        packets = np.bincount(flat, weights=store.values["packets"], minlength=size).reshape(len(first), buckets)
        bum = np.bincount(flat, weights=store.values["bum"], minlength=size).reshape(len(first), buckets)
        for group, key in enumerate(zip(*(k[first].tolist() for k in keys), strict=True)):
            out[label(key)] = (packets[group].round().astype(np.int64).tolist(),
                               bum[group].round().astype(np.int64).tolist())
        return out
