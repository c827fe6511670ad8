"""A self-contained HTML report: inline CSS and SVG, no scripts, fonts or other external assets.

Sections: summary, anomalies (highlighted by severity), per-VNI bar charts (packets split into BUM and
unicast, and inner bytes), time series per VNI and per VTEP pair (packets/s and BUM/s on a common time
axis), the VTEP-pair x VNI heatmap, tenants, VTEPs and the top inner flows.
Every value from the capture or the intent is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from pathlib import Path

from vxauto.monitor.analysis import Report
from vxauto.monitor.report_formats import flows_text, human_bytes, iso_time

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2733;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dee6}
.meta{color:#5a6675;font-size:13px} table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d8dee6;padding:3px 8px;text-align:left} th{background:#f2f5f8}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.error td{background:#fde2e1} tr.warning td{background:#fff4d6}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600}
.badge.error{background:#c62828;color:#fff} .badge.warning{background:#f0a400;color:#1d2733}
.badge.ok{background:#2e7d32;color:#fff}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid #d8dee6;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px} svg text{font-family:inherit}
"""

BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, CHART_WIDTH = 18, 6, 190, 460
CELL, HEAT_LABEL = 34, 260
SPARK_WIDTH, SPARK_HEIGHT = 420, 56
#: VTEP pairs drawn over time (the busiest ones); every VNI is drawn.
SERIES_PAIRS = 20
PACKETS_COLOUR, BUM_COLOUR = "#2f6db5", "#e07a1f"


def write_html(report: Report, path: Path | str, top_flows: int = 100) -> None:
    Path(path).write_text(render_html(report, top_flows), encoding="utf-8")


def render_html(report: Report, top_flows: int = 100) -> str:
    title = f"vxauto monitor: {report.source}"
    body = [
        f"<h1>{escape(title)}</h1>",
        _meta(report),
        _cards(report),
        "<h2 id='anomalies'>Anomalies</h2>",
        _anomalies(report),
        "<h2 id='vnis'>Per VNI</h2>",
        _vni_charts(report),
        _vni_table(report),
        "<h2 id='time'>Over time</h2>",
        _time_series(report),
        "<h2 id='matrix'>VTEP pair x VNI</h2>",
        _heatmap(report),
    ]
    if report.tenants:
        body += ["<h2 id='tenants'>Per tenant</h2>", _tenant_table(report)]
    body += ["<h2 id='vteps'>VTEPs</h2>", _vtep_table(report),
             f"<h2 id='flows'>Inner flows: top {min(top_flows, len(report.flows))} by bytes</h2>",
             f"<p class='meta'>{escape(flows_text(report))}</p>",
             _flow_table(report, top_flows), "<h2 id='decode'>Decoding</h2>", _decode_table(report)]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _meta(report: Report) -> str:
    when = f"{iso_time(report.first_ns)} to {iso_time(report.last_ns)}" if report.packets else "no VXLAN packets"
    fabric = f" &middot; fabric <b>{escape(report.fabric)}</b>" if report.fabric else " &middot; no intent given"
    return f"<p class='meta'>{escape(when)} ({report.duration_s:.3f} s){fabric}</p>"


def _cards(report: Report) -> str:
    errors = sum(1 for a in report.anomalies if a.severity == "error")
    warnings = len(report.anomalies) - errors
    cards = [("VXLAN packets", f"{report.packets}"), ("inner bytes", human_bytes(report.bytes)),
             ("VNIs", str(len(report.vnis))), ("VTEPs", str(len(report.vteps))),
             ("inner flows", str(report.flow_info().flows)), ("errors", str(errors)), ("warnings", str(warnings))]
    inner = "".join(
        f"<div class='card'><span class='meta'>{escape(k)}</span><b>{escape(v)}</b></div>" for k, v in cards
    )
    return f"<div class='cards'>{inner}</div>"


def _anomalies(report: Report) -> str:
    if not report.anomalies:
        return "<p><span class='badge ok'>no anomalies</span></p>"
    rows = "".join(
        f"<tr class='{escape(a.severity)}'><td><span class='badge {escape(a.severity)}'>{escape(a.severity)}"
        f"</span></td><td>{escape(a.kind)}</td><td>{'' if a.vni is None else a.vni}</td>"
        f"<td class='n'>{a.packets}</td><td>{escape(a.message)}</td></tr>"
        for a in report.anomalies
    )
    return ("<table class='anomalies'><tr><th>severity</th><th>kind</th><th>VNI</th><th>packets</th><th>what</th>"
            f"</tr>{rows}</table>")


def _bar_chart(title: str, rows: list[tuple[str, list[tuple[float, str, str]]]], fmt: Callable[[float], str]) -> str:
    """Horizontal stacked bars: rows of (label, [(value, colour, legend)])."""
    largest = max((sum(v for v, _, _ in parts) for _, parts in rows), default=0) or 1
    height = len(rows) * (BAR_HEIGHT + BAR_GAP) + 30
    width = LABEL_WIDTH + CHART_WIDTH + 90
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
           f"aria-label='{escape(title)}'><text x='0' y='14' font-size='13' font-weight='600'>{escape(title)}</text>"]
    for index, (label, parts) in enumerate(rows):
        y = 24 + index * (BAR_HEIGHT + BAR_GAP)
        out.append(f"<text x='{LABEL_WIDTH - 6}' y='{y + 13}' font-size='12' text-anchor='end'>{escape(label)}</text>")
        x = float(LABEL_WIDTH)
        for value, colour, legend in parts:
            w = CHART_WIDTH * value / largest
            if w > 0:
                out.append(f"<rect x='{x:.1f}' y='{y}' width='{max(w, 0.5):.1f}' height='{BAR_HEIGHT}' fill='{colour}'>"
                           f"<title>{escape(legend)}: {escape(fmt(value))}</title></rect>")
            x += w
        total = sum(v for v, _, _ in parts)
        out.append(f"<text x='{x + 4:.1f}' y='{y + 13}' font-size='12'>{escape(fmt(total))}</text>")
    out.append("</svg>")
    return "".join(out)


def _vni_label(vni: int, segment: str | None) -> str:
    return f"{vni} {segment}" if segment else str(vni)


def _vni_charts(report: Report) -> str:
    if not report.vnis:
        return "<p>No VXLAN packets.</p>"
    packets = [(_vni_label(v, s.segment), [(float(s.bum), "#e07a1f", "BUM"), (float(s.unicast), "#2f6db5", "unicast")])
               for v, s in report.vnis.items()]
    octets = [(_vni_label(v, s.segment), [(float(s.bytes), "#5b8c3a", "inner bytes")]) for v, s in report.vnis.items()]
    legend = ("<p class='meta'><span style='color:#e07a1f'>&#9632;</span> BUM "
              "<span style='color:#2f6db5'>&#9632;</span> unicast</p>")
    return (f"<div class='charts'>{_bar_chart('Packets per VNI', packets, lambda v: f'{v:.0f}')}{legend}"
            f"{_bar_chart('Inner bytes per VNI', octets, human_bytes)}</div>")


def _time_series(report: Report) -> str:
    """Packets/s and BUM/s per VNI and for the busiest VTEP pairs, each a small chart on one time axis."""
    series = report.series
    if series is None or not series.vnis:
        return "<p>No VXLAN packets.</p>"
    buckets = len(next(iter(series.vnis.values()))[0])
    start, end = series.start, series.start + buckets * series.step
    legend = (f"<p class='meta'>{escape(iso_time(start * 1_000_000_000))} to {escape(iso_time(end * 1_000_000_000))}, "
              f"{series.step} s per point; <span style='color:{PACKETS_COLOUR}'>&#9632;</span> packets/s "
              f"<span style='color:{BUM_COLOUR}'>&#9632;</span> BUM/s (each chart on its own scale)</p>")
    vni_rows = "".join(
        f"<tr><td>{vni}</td>{_series_cells(packets, bum, series.step, f'VNI {vni}')}</tr>"
        for vni, (packets, bum) in series.vnis.items()
    )
    busiest = sorted(series.pairs.items(), key=lambda item: -sum(item[1][0]))[:SERIES_PAIRS]
    names = {a: e.get("name") for a, e in report.vteps.items()}
    pair_rows = "".join(
        f"<tr><td>{escape(f'{names.get(src) or src} → {names.get(dst) or dst}')}</td>"
        f"{_series_cells(packets, bum, series.step, f'{src} to {dst}')}</tr>"
        for (src, dst), (packets, bum) in busiest
    )
    more = (f"<p class='meta'>the {SERIES_PAIRS} busiest of {len(series.pairs)} VTEP pairs</p>"
            if len(series.pairs) > SERIES_PAIRS else "")
    head = "<tr><th>{}</th><th>packets/s and BUM/s</th><th>peak packets/s</th><th>peak BUM/s</th></tr>"
    return (f"{legend}<table class='series'>{head.format('VNI')}{vni_rows}</table>"
            f"<table class='series'>{head.format('VTEP pair')}{pair_rows}</table>{more}")


def _series_cells(packets: list[int], bum: list[int], step: int, label: str) -> str:
    rate = [p / step for p in packets]
    bum_rate = [b / step for b in bum]
    return (f"<td>{_sparkline(rate, bum_rate, label)}</td><td class='n'>{max(rate):.0f}</td>"
            f"<td class='n'>{max(bum_rate):.0f}</td>")


def _sparkline(rate: list[float], bum_rate: list[float], label: str) -> str:
    top = max(rate) or 1.0  # BUM packets are packets too: one scale fits both lines
    count = len(rate)

    def points(values: list[float]) -> str:
        if count == 1:
            values = values * 2
        width = SPARK_WIDTH / max(len(values) - 1, 1)
        return " ".join(f"{i * width:.1f},{SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * v / top:.1f}"
                        for i, v in enumerate(values))

    return (f"<svg xmlns='http://www.w3.org/2000/svg' class='spark' width='{SPARK_WIDTH}' height='{SPARK_HEIGHT}' "
            f"role='img' aria-label='{escape(label)}: packets and BUM per second'>"
            f"<title>{escape(label)}: up to {max(rate):.0f} packets/s, {max(bum_rate):.0f} BUM/s</title>"
            f"<line x1='0' y1='{SPARK_HEIGHT - 1}' x2='{SPARK_WIDTH}' y2='{SPARK_HEIGHT - 1}' stroke='#d8dee6'/>"
            f"<polyline class='packets' fill='none' stroke='{PACKETS_COLOUR}' stroke-width='1.5' "
            f"points='{points(rate)}'/>"
            f"<polyline class='bum' fill='none' stroke='{BUM_COLOUR}' stroke-width='1.5' points='{points(bum_rate)}'/>"
            "</svg>")


def _vni_table(report: Report) -> str:
    rows = "".join(
        f"<tr><td>{vni}</td><td>{escape(s.segment or '-')}</td><td>{escape(s.tenant or '-')}</td>"
        f"<td class='n'>{s.packets}</td><td class='n'>{s.bytes}</td><td class='n'>{s.broadcast}</td>"
        f"<td class='n'>{s.multicast}</td><td class='n'>{s.unknown_unicast}</td><td class='n'>{s.unicast}</td>"
        f"<td class='n'>{s.max_bum_pps}</td><td>{escape(', '.join(s.vteps))}</td></tr>"
        for vni, s in report.vnis.items()
    )
    return ("<table><tr><th>VNI</th><th>segment</th><th>tenant</th><th>packets</th><th>bytes</th><th>broadcast</th>"
            "<th>multicast</th><th>unknown unicast</th><th>unicast</th><th>peak BUM/s</th><th>VTEPs</th></tr>"
            f"{rows}</table>")


def _heat_colour(value: int, largest: int) -> str:
    if value <= 0:
        return "#f4f6f8"
    share = math.log1p(value) / math.log1p(largest)  # log scale: small flows stay visible
    red, green, blue = (int(255 - share * (255 - end)) for end in (32, 82, 160))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _heatmap(report: Report) -> str:
    if not report.pairs:
        return "<p>No VXLAN packets.</p>"
    vnis = sorted(report.vnis)
    names = {a: e.get("name") for a, e in report.vteps.items()}
    cells: dict[tuple[str, str], dict[int, int]] = {}
    for pair in report.pairs:
        cells.setdefault((pair.src, pair.dst), {})[pair.vni] = pair.counters["packets"]
    largest = max(p.counters["packets"] for p in report.pairs)
    rows = sorted(cells)
    width, height = HEAT_LABEL + CELL * len(vnis) + 10, 60 + CELL * len(rows)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='heatmap' width='{width}' height='{height}' role='img' "
           "aria-label='VTEP pair by VNI heatmap'>"]
    for column, vni in enumerate(vnis):
        x = HEAT_LABEL + column * CELL + CELL / 2
        out.append(f"<text x='{x}' y='50' font-size='11' transform='rotate(-45 {x} 50)'>{vni}</text>")
    for row, (src, dst) in enumerate(rows):
        y = 56 + row * CELL
        label = f"{names.get(src) or src} \u2192 {names.get(dst) or dst}"
        out.append(f"<text x='{HEAT_LABEL - 6}' y='{y + CELL / 2 + 4}' font-size='12' text-anchor='end'>"
                   f"{escape(label)}</text>")
        for column, vni in enumerate(vnis):
            value = cells[(src, dst)].get(vni, 0)
            x = HEAT_LABEL + column * CELL
            fill = _heat_colour(value, largest)
            out.append(f"<rect x='{x}' y='{y}' width='{CELL - 2}' height='{CELL - 2}' fill='{fill}'>"
                       f"<title>{escape(src)} \u2192 {escape(dst)} VNI {vni}: {value} packets</title></rect>")
            if value:
                colour = "#fff" if value * 4 > largest else "#1d2733"
                out.append(f"<text x='{x + (CELL - 2) / 2}' y='{y + CELL / 2 + 3}' font-size='10' text-anchor='middle' "
                           f"fill='{colour}'>{_short(value)}</text>")
    out.append("</svg>")
    return "".join(out)


def _short(value: int) -> str:
    for divisor, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= divisor:
            return f"{value / divisor:.0f}{suffix}"
    return str(value)


def _tenant_table(report: Report) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(', '.join(map(str, e['vnis'])))}</td>"
        f"<td class='n'>{e['packets']}</td><td class='n'>{e['bytes']}</td><td class='n'>{e['bum']}</td>"
        f"<td class='n'>{e['unicast']}</td></tr>"
        for name, e in report.tenants.items()
    )
    return ("<table><tr><th>tenant</th><th>VNIs</th><th>packets</th><th>bytes</th><th>BUM</th><th>unicast</th></tr>"
            f"{rows}</table>")


def _vtep_table(report: Report) -> str:
    rows = "".join(
        f"<tr><td>{escape(address)}</td><td>{escape(str(e['name'] or '-'))}</td><td class='n'>{e['sent_packets']}"
        f"</td><td class='n'>{e['received_packets']}</td><td>{escape(', '.join(map(str, e['vnis'])))}</td></tr>"
        for address, e in report.vteps.items()
    )
    return ("<table><tr><th>VTEP</th><th>device</th><th>sent</th><th>received</th><th>VNIs</th></tr>"
            f"{rows}</table>")


def _flow_table(report: Report, top: int) -> str:
    rows = "".join(
        f"<tr><td>{f.vni}</td><td>{escape(f.tenant or '-')}</td><td>{escape(f.ethertype)}</td><td>{escape(f.src)}</td>"
        f"<td>{escape(f.dst)}</td><td>{escape(f.proto)}</td><td class='n'>{f.sport}</td><td class='n'>{f.dport}</td>"
        f"<td class='n'>{f.packets}</td><td class='n'>{f.bytes}</td><td>{escape(iso_time(f.first_ns))}</td>"
        f"<td>{escape(iso_time(f.last_ns))}</td></tr>"
        for f in report.flows[:top]
    )
    return ("<table><tr><th>VNI</th><th>tenant</th><th>type</th><th>source</th><th>destination</th><th>proto</th>"
            "<th>sport</th><th>dport</th><th>packets</th><th>bytes</th><th>first seen</th><th>last seen</th></tr>"
            f"{rows}</table>")


def _decode_table(report: Report) -> str:
    decode = report.decode
    items = [("frames", decode.frames), ("VXLAN packets", report.packets)]
    items += [(f"frames: {k}", v) for k, v in sorted(decode.statuses.items())]
    items += [(f"reassembled datagrams: {k}", v) for k, v in sorted(decode.reassembled.items())]
    items += [(f"inner frames: {k}", v) for k, v in sorted(decode.inner.items())]
    items += [(f"VXLAN header: {k}", v) for k, v in report.variants.items()]
    items += [(f"UDP port {k}", v) for k, v in report.udp_ports.items()]
    rows = "".join(f"<tr><td>{escape(k)}</td><td class='n'>{v}</td></tr>" for k, v in items)
    problems = "".join(f"<li>{escape(p)}</li>" for p in decode.capture_problems)
    return f"<table>{rows}</table>" + (f"<ul class='problems'>{problems}</ul>" if problems else "")
