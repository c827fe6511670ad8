"""Traffic checks: what the capture shows that should not be there, or that is missing.

Intent checks (need an inventory): VTEPs that are not in the fabric, VNIs that are not defined or that
a VTEP does not carry, the wrong VXLAN UDP port, flood peers that never receive a VTEP's BUM traffic.
Checks that need no intent: inner VLAN tags, outer fragmentation and frames too big for the MTUs,
bad VXLAN flags and reserved bits, low UDP source-port entropy between two VTEPs, BUM storms,
malformed packets and damaged capture files.

Each check works on the aggregated state of an `Analyzer`, never on packets.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vxauto.monitor.table import address_text

if TYPE_CHECKING:
    from vxauto.monitor.analysis import Analyzer, Anomaly, PairSummary, Report

ERROR, WARNING = "error", "warning"


def find_anomalies(analyzer: Analyzer, report: Report) -> list[Anomaly]:
    checks = [_flags, _inner_vlans, _fragments, _mtu, _offload, _entropy, _bum_rate, _malformed]
    if analyzer.intent is not None:
        checks = [_unknown_vteps, _vnis, _udp_port, _flood_peers, *checks]
    severity_order = {ERROR: 0, WARNING: 1}
    found = [anomaly for check in checks for anomaly in check(analyzer, report)]
    return sorted(found, key=lambda a: (severity_order[a.severity], a.kind, a.vni or 0, a.src or "", a.dst or ""))


def _anomaly(kind: str, severity: str, message: str, **fields: object) -> Anomaly:
    from vxauto.monitor.analysis import Anomaly

    return Anomaly(kind, severity, message, **fields)  # type: ignore[arg-type]


def _label(address: str, name: str | None) -> str:
    return f"{name} ({address})" if name else address


def _is_multicast(address: str) -> bool:
    return ipaddress.ip_address(address).is_multicast


# --- against the intent ----------------------------------------------------------------------------------


def _unknown_vteps(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    assert analyzer.intent is not None
    packets: Counter[str] = Counter()
    vnis: dict[str, set[int]] = defaultdict(set)
    for pair in report.pairs:
        for address in (pair.src, pair.dst):
            if address not in analyzer.intent.vtep_names and not _is_multicast(address):
                packets[address] += pair.counters["packets"]
                vnis[address].add(pair.vni)
    for address, count in sorted(packets.items()):
        yield _anomaly(
            "unknown-vtep", ERROR,
            f"VTEP {address} is not in fabric {analyzer.intent.fabric} ({count} packets, VNIs "
            f"{', '.join(map(str, sorted(vnis[address])))})",
            packets=count, src=address, details={"vnis": sorted(vnis[address])},
        )


def _vnis(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    """VNIs the fabric does not define, and VNIs a known VTEP sends or receives but does not carry."""
    intent = analyzer.intent
    assert intent is not None
    for vni, summary in report.vnis.items():
        if vni not in intent.segments:
            yield _anomaly(
                "unknown-vni", ERROR, f"VNI {vni} is not defined in fabric {intent.fabric} ({summary.packets} packets)",
                packets=summary.packets, vni=vni, details={"vteps": summary.vteps},
            )
    wrong: Counter[tuple[str, int]] = Counter()
    for pair in report.pairs:
        if pair.vni not in intent.segments:
            continue
        for address in (pair.src, pair.dst):
            carried = intent.vnis_by_vtep.get(address)
            if carried is not None and pair.vni not in carried:
                wrong[(address, pair.vni)] += pair.counters["packets"]
    for (address, vni), count in sorted(wrong.items()):
        name = intent.name_of(address)
        yield _anomaly(
            "unexpected-vni", ERROR,
            f"{_label(address, name)} carries VNI {vni} ({intent.segments[vni].name}), which the intent does not "
            f"attach to it ({count} packets)",
            packets=count, vni=vni, src=address, details={"device": name},
        )


def _udp_port(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    assert analyzer.intent is not None
    expected = analyzer.intent.udp_port
    for port, count in report.udp_ports.items():
        if port != expected:
            hint = " (the Linux default when a VXLAN device is created without dstport)" if port == 8472 else ""
            yield _anomaly(
                "unexpected-udp-port", ERROR,
                f"{count} VXLAN packets use UDP port {port}, the fabric uses {expected}{hint}",
                packets=count, details={"port": port, "expected": expected},
            )


def _flood_peers(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    """A VTEP that floods BUM on a VNI must replicate it to every flood peer of that VNI."""
    intent = analyzer.intent
    assert intent is not None
    flooded: Counter[tuple[str, int]] = Counter()
    reached: dict[tuple[str, int], set[str]] = defaultdict(set)
    for pair in report.pairs:
        reached[(pair.src, pair.vni)].add(pair.dst)
        flooded[(pair.src, pair.vni)] += pair.counters["broadcast"] + pair.counters["multicast"]
    for (address, vni), bum in sorted(flooded.items()):
        if not bum or any(_is_multicast(d) for d in reached[(address, vni)]):
            continue  # no BUM seen, or a multicast underlay (no per-peer copies)
        expected = intent.flood_peers.get((address, vni))
        if expected is None:
            continue  # unknown VTEP or VNI: reported by the checks above
        missing = [peer for peer in expected if peer not in reached[(address, vni)]]
        if missing:
            names = ", ".join(_label(p, intent.name_of(p)) for p in missing)
            yield _anomaly(
                "missing-flood-peer", WARNING,
                f"{_label(address, intent.name_of(address))} flooded {bum} BUM packets on VNI {vni} but never "
                f"sent anything on it to flood peer(s) {names}",
                packets=bum, vni=vni, src=address, details={"missing": missing, "expected": list(expected)},
            )


# --- without intent --------------------------------------------------------------------------------------


def _pair_label(analyzer: Analyzer, pair: PairSummary) -> str:
    return f"{_label(pair.src, pair.src_name)} -> {_label(pair.dst, pair.dst_name)}"


MAX_LISTED_PAIRS = 20


def _per_vni(report: Report, counter: str) -> Iterator[tuple[int, int, list[PairSummary]]]:
    """(VNI, packets, pairs) for every VNI where `counter` is not zero: one anomaly per VNI, not per pair."""
    found: dict[int, list[PairSummary]] = defaultdict(list)
    for pair in report.pairs:
        if pair.counters[counter]:
            found[pair.vni].append(pair)
    for vni, pairs in sorted(found.items()):
        yield vni, sum(p.counters[counter] for p in pairs), pairs


def _where(analyzer: Analyzer, pairs: list[PairSummary], counter: str) -> tuple[str, dict[str, object]]:
    """(message fragment, anomaly fields) naming the VTEP pair, or listing the pairs in details."""
    if len(pairs) == 1:
        return _pair_label(analyzer, pairs[0]), {"src": pairs[0].src, "dst": pairs[0].dst}
    listed = [{"src": p.src, "dst": p.dst, "packets": p.counters[counter]} for p in pairs[:MAX_LISTED_PAIRS]]
    return f"between {len(pairs)} VTEP pairs", {"pairs": listed}


def _anomaly_on_pairs(
    kind: str, severity: str, analyzer: Analyzer, report: Report, counter: str, text: str,
    details: dict[str, object] | None = None,
) -> Iterator[Anomaly]:
    """One anomaly per VNI for a per-pair counter; `text` is formatted with count, where, vni, largest."""
    for vni, count, pairs in _per_vni(report, counter):
        where, fields = _where(analyzer, pairs, counter)
        extra = dict(details or {})
        if "pairs" in fields:
            extra["pairs"] = fields.pop("pairs")
        message = text.format(count=count, where=where, vni=vni, largest=max(p.max_inner_len for p in pairs))
        yield _anomaly(kind, severity, message, packets=count, vni=vni, details=extra, **fields)


def _flags(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    yield from _anomaly_on_pairs(
        "bad-vxlan-flags", ERROR, analyzer, report, "no_i_flag",
        "{count} packets {where} VNI {vni} lack the I flag (VNI not valid, RFC 7348 receivers drop them)",
    )
    yield from _anomaly_on_pairs(
        "reserved-bits-set", WARNING, analyzer, report, "reserved_bits",
        "{count} packets {where} VNI {vni} have reserved VXLAN header bits set",
    )


def _inner_vlans(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    for vni, count, pairs in _per_vni(report, "tagged"):
        vlans: set[int] = set()
        for pair in pairs:
            vlans |= analyzer.inner_vlans.get((*_halves(pair.src), *_halves(pair.dst), pair.vni), set())
        where, fields = _where(analyzer, pairs, "tagged")
        details: dict[str, object] = {"vlans": sorted(vlans)[:50]}
        if "pairs" in fields:
            details["pairs"] = fields.pop("pairs")
        shown = ", ".join(map(str, sorted(vlans)[:10])) + (", ..." if len(vlans) > 10 else "")
        yield _anomaly(
            "inner-vlan-tag", WARNING,
            f"{count} inner frames {where} VNI {vni} carry 802.1Q tags (VLAN {shown}); a VTEP maps the access "
            "VLAN to the VNI and sends frames untagged",
            packets=count, vni=vni, details=details, **fields,
        )


def _halves(address: str) -> tuple[int, int]:
    from vxauto.monitor.table import address_halves

    return address_halves(address)


def _fragments(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    yield from _anomaly_on_pairs(
        "outer-fragmented", WARNING, analyzer, report, "fragmented",
        "{count} VXLAN packets {where} VNI {vni} were fragmented in the underlay (underlay MTU too small for the "
        "overlay)",
    )


def _mtu(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    limits = analyzer.thresholds
    yield from _anomaly_on_pairs(
        "inner-mtu-exceeded", ERROR, analyzer, report, "inner_oversize",
        f"{{count}} inner frames {{where}} VNI {{vni}} exceed the overlay MTU {limits.overlay_mtu} (largest inner "
        "frame {largest} bytes)",
        details={"overlay_mtu": limits.overlay_mtu},
    )
    yield from _anomaly_on_pairs(
        "outer-mtu-exceeded", ERROR, analyzer, report, "outer_oversize",
        f"{{count}} VXLAN packets {{where}} VNI {{vni}} are larger than the underlay MTU {limits.underlay_mtu}",
        details={"underlay_mtu": limits.underlay_mtu},
    )


def _offload(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    """Packets bigger than any wire frame: the capture saw them before GSO/TSO split them (or after GRO)."""
    yield from _anomaly_on_pairs(
        "capture-offload", WARNING, analyzer, report, "offloaded",
        "{count} packets {where} VNI {vni} are larger than any Ethernet frame (up to {largest} bytes inner): "
        "captured before segmentation offload or after GRO; sizes and MTU checks of these packets are not what "
        "the wire carried (ethtool -K IFACE gso off tso off gro off)",
    )


def _entropy(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    """RFC 7348 asks for a source port hashed from the inner frame, so ECMP spreads a pair's flows.

    `flow_ports` holds, per VTEP pair, the UDP source port of a uniform sample of its inner flows (all of
    them up to 1024), so the entropy is that of the sample.
    """
    limits = analyzer.thresholds
    for (src_hi, src_lo, dst_hi, dst_lo), ports in sorted(analyzer.flow_ports.items()):
        flows = len(ports)
        if flows < limits.entropy_min_flows:
            continue
        per_port = Counter(ports.tolist())
        entropy = -sum(c / flows * math.log2(c / flows) for c in per_port.values())
        ratio = entropy / math.log2(flows)
        if ratio < limits.entropy_ratio:
            src, dst = address_text(src_hi, src_lo), address_text(dst_hi, dst_lo)
            names = (analyzer.intent.name_of(src), analyzer.intent.name_of(dst)) if analyzer.intent else (None, None)
            yield _anomaly(
                "low-source-port-entropy", WARNING,
                f"{_label(src, names[0])} -> {_label(dst, names[1])}: {flows} inner flows use only "
                f"{len(per_port)} UDP source port(s) (entropy {entropy:.2f} of {math.log2(flows):.2f} bits); "
                "ECMP cannot spread them",
                packets=flows, src=src, dst=dst,
                details={"flows": flows, "source_ports": len(per_port), "entropy_bits": round(entropy, 3),
                         "ratio": round(ratio, 3)},
            )


def _bum_rate(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    limit = analyzer.thresholds.bum_pps
    peaks: dict[int, tuple[int, int]] = {}
    for (vni, second), count in analyzer.bum_seconds.items():
        if count > limit and count > peaks.get(vni, (0, 0))[0]:
            peaks[vni] = (count, second)
    for vni, (count, second) in sorted(peaks.items()):
        seconds_over = sum(1 for (v, _), c in analyzer.bum_seconds.items() if v == vni and c > limit)
        yield _anomaly(
            "bum-rate", WARNING,
            f"VNI {vni}: {count} BUM packets in one second (threshold {limit:g}/s), {seconds_over} second(s) over",
            packets=count, vni=vni, details={"peak_pps": count, "peak_second": second, "threshold_pps": limit,
                                             "seconds_over": seconds_over},
        )


def _malformed(analyzer: Analyzer, report: Report) -> Iterator[Anomaly]:
    malformed = report.decode.malformed
    if malformed:
        total = sum(malformed.values())
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(malformed.items()))
        yield _anomaly("malformed-packets", WARNING, f"{total} frames could not be decoded: {reasons}",
                       packets=total, details=dict(malformed))
    inner = {k: v for k, v in report.decode.inner.items() if k in ("truncated", "malformed")}
    if inner:
        total = sum(inner.values())
        yield _anomaly("malformed-inner", WARNING,
                       f"{total} VXLAN packets carry a cut or broken inner frame: "
                       + ", ".join(f"{c} {r}" for r, c in sorted(inner.items())),
                       packets=total, details=inner)
    for problem in report.decode.capture_problems:
        yield _anomaly("capture-file", WARNING, problem)
