"""Terminal (Rich), JSON and CSV views of a monitor `Report` (the JSON writers live in report_json.py, which
does not import Rich: a `--json` run does not pay for it; they are re-exported here)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from vxauto.monitor.analysis import NS, Report
from vxauto.monitor.report_json import flow_lines, to_json

__all__ = ["flow_lines", "print_summary", "summary", "to_json", "write_csv"]

FLOW_COLUMNS = ("vni", "tenant", "ethertype", "src", "dst", "proto", "sport", "dport", "packets", "bytes",
                "first_seen", "last_seen")
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


def flows_text(report: Report) -> str:
    """'N inner flows' with how they were counted (exact, or a heavy-hitter summary)."""
    info = report.flow_info()
    if info.mode == "exact":
        return f"{info.flows} inner flows (exact)"
    return (f"about {info.flows} inner flows (heavy-hitter summary of {info.capacity}: listed bytes at most "
            f"{human_bytes(info.error_bytes)} low)")


def write_csv(report: Report, path: Path | str) -> None:
    """The report's top inner flows, one row each (VNI, tenant, 5-tuple, counters, first/last seen in ISO time)."""
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FLOW_COLUMNS)
        for flow in report.flows:
            writer.writerow([
                flow.vni, flow.tenant or "", flow.ethertype, flow.src, flow.dst, flow.proto, flow.sport, flow.dport,
                flow.packets, flow.bytes, iso_time(flow.first_ns), iso_time(flow.last_ns),
            ])


def iso_time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / NS, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def summary(report: Report, top_flows: int = 10, max_matrix_vnis: int = 12) -> Group:
    """The Rich renderable shown by `vxauto monitor pcap` (and refreshed by the live top view)."""
    parts: list[RenderableType] = [_headline(report)]
    if report.vnis:
        parts.append(_vni_table(report))
    if report.tenants:
        parts.append(_tenant_table(report))
    if report.pairs:
        parts.append(_matrix_table(report, max_matrix_vnis))
    if report.flows:
        parts.append(_flow_table(report, top_flows))
    parts.append(_anomaly_table(report))
    return Group(*parts)


def print_summary(report: Report, console: Console | None = None) -> None:
    (console or Console()).print(summary(report))


def _headline(report: Report) -> Text:
    decode = report.decode
    text = Text()
    text.append(f"{report.source}", style="bold")
    if report.fabric:
        text.append(f"  fabric {report.fabric}")
    text.append(
        f"\n{report.packets} VXLAN packets of {decode.frames} frames, {human_bytes(report.bytes)} inner, "
        f"{human_bytes(report.wire_bytes)} on the wire, {report.duration_s:.3f} s, {len(report.vnis)} VNIs, "
        f"{flows_text(report)}"
    )
    if report.captures is not None:
        text.append(f"\n{len(report.captures['files'])} captures merged, {report.captures['duplicates']} duplicate "  # type: ignore[arg-type]
                    f"packets dropped (matched by {report.captures['matched_by']})")
    other = decode.statuses.get("other", 0)
    malformed = sum(decode.malformed.values())
    text.append(f"\nnot VXLAN: {other}  undecodable: {malformed}  reassembled: {sum(decode.reassembled.values())}")
    if report.variants:
        text.append("  headers: " + ", ".join(f"{k} {v}" for k, v in report.variants.items()))
    return text


def _table(title: str) -> Table:
    """A table that wraps long cells (addresses, VNI lists) at any terminal width instead of cutting them."""
    return Table(title=title, title_justify="left", padding=(0, 1), collapse_padding=True)


def _column(table: Table, name: str, right: bool = False, min_width: int | None = None) -> None:
    # overflow="fold" breaks a cell anywhere (an IPv6 address has no spaces) rather than ending it with "...".
    table.add_column(name, justify="right" if right else "left", overflow="fold", min_width=min_width)


#: Narrowest width of an address column: a whole IPv4 address on one line.
ADDRESS_WIDTH = 15


def _vni_table(report: Report) -> Table:
    table = _table("Per VNI")
    for name in ("VNI", "segment", "tenant", "packets", "bytes", "BUM", "unicast", "peak BUM/s", "VTEPs"):
        _column(table, name, right=name in ("packets", "bytes", "BUM", "unicast", "peak BUM/s"),
                min_width=ADDRESS_WIDTH if name == "VTEPs" else None)
    for vni, s in report.vnis.items():
        table.add_row(str(vni), s.segment or "-", s.tenant or "-", str(s.packets), human_bytes(s.bytes),
                      str(s.bum), str(s.unicast), str(s.max_bum_pps), ", ".join(s.vteps))
    return table


def _tenant_table(report: Report) -> Table:
    table = _table("Per tenant")
    for name in ("tenant", "VNIs", "packets", "bytes", "BUM", "unicast"):
        _column(table, name, right=name not in ("tenant", "VNIs"))
    for name, entry in report.tenants.items():
        table.add_row(name, ", ".join(map(str, entry["vnis"])), str(entry["packets"]),
                      human_bytes(entry["bytes"]), str(entry["bum"]), str(entry["unicast"]))
    return table


def _matrix_table(report: Report, max_vnis: int) -> Table:
    vnis = sorted(report.vnis)[:max_vnis]
    cells: dict[tuple[str, str], dict[int, int]] = {}
    for pair in report.pairs:
        cells.setdefault((pair.src, pair.dst), {})[pair.vni] = pair.counters["packets"]
    title = "VTEP pair x VNI (packets)" + (f", first {max_vnis} VNIs" if len(report.vnis) > max_vnis else "")
    table = _table(title)
    _column(table, "source -> destination", min_width=ADDRESS_WIDTH)
    for vni in vnis:
        _column(table, str(vni), right=True)
    names = {a: e.get("name") for a, e in report.vteps.items()}
    for (src, dst), row in sorted(cells.items()):
        label = f"{names.get(src) or src} -> {names.get(dst) or dst}"
        table.add_row(label, *(str(row.get(vni, "")) for vni in vnis))
    return table


def _flow_table(report: Report, top: int) -> Table:
    table = _table(f"Top {min(top, len(report.flows))} flows by bytes; {flows_text(report)}")
    for name in ("VNI", "type", "source", "destination", "proto", "sport", "dport", "packets", "bytes"):
        _column(table, name, right=name in ("sport", "dport", "packets", "bytes"),
                min_width=ADDRESS_WIDTH if name in ("source", "destination") else None)
    for flow in report.flows[:top]:
        table.add_row(str(flow.vni), flow.ethertype, flow.src, flow.dst, flow.proto, str(flow.sport),
                      str(flow.dport), str(flow.packets), human_bytes(flow.bytes))
    return table


def _anomaly_table(report: Report) -> Table | Text:
    if not report.anomalies:
        return Text("No anomalies.", style="green")
    table = _table(f"Anomalies ({len(report.anomalies)})")
    _column(table, "severity")
    _column(table, "kind")
    _column(table, "what")
    for anomaly in report.anomalies:
        style = SEVERITY_STYLE.get(anomaly.severity, "")
        table.add_row(Text(anomaly.severity, style=style), Text(anomaly.kind, style=style), anomaly.message)
    return table
