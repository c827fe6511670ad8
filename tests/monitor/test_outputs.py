"""Outputs: JSON, CSV, HTML (also in headless Chromium), Prometheus endpoint, IPFIX export decoded back."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import struct
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitor.packets import write_pcap
from tests.monitor.test_checks import INTENT, T0, A, B, clean_traffic, entropy_collapse, flood_to_one_peer, vxlan
from tests.monitor.test_checks import inner_tcp as tcp
from vxauto.monitor.analysis import Analyzer, Report
from vxauto.monitor.decode import decode_capture
from vxauto.monitor.html import render_html
from vxauto.monitor.intent import IntentView
from vxauto.monitor.ipfix import TEMPLATES, IpfixExporter
from vxauto.monitor.prometheus import serve_metrics
from vxauto.monitor.report_formats import summary, to_json, write_csv


@pytest.fixture
def report(tmp_path: Path) -> Report:
    packets = [
        *clean_traffic(),
        *flood_to_one_peer(),
        *entropy_collapse(),
        vxlan(A, B, 10010, tcp("10.10.10.1", "10.10.10.2", 7, tags=1), T0 + 5),
    ]
    path = tmp_path / "report.pcap"
    write_pcap(path, [(float(p.time), bytes(p)) for p in packets])
    table, stats = decode_capture(path)
    analyzer = Analyzer(IntentView.load(INTENT))
    analyzer.add(table)
    return analyzer.report(stats, str(path))


def test_json_has_the_documented_shape(report: Report) -> None:
    data = json.loads(to_json(report))
    assert data["packets"] == report.packets == sum(v["packets"] for v in data["vnis"].values())
    assert set(data["vnis"]) == {"10010", "10030", "50001"}
    assert all({"packets", "bytes", "bum", "unicast", "tenant"} <= set(v) for v in data["vnis"].values())
    assert {a["kind"] for a in data["anomalies"]} == {"missing-flood-peer", "low-source-port-entropy", "inner-vlan-tag"}
    assert data["tenants"]["blue"]["vnis"] == [10030, 50001]
    assert data["flows"][0]["bytes"] >= data["flows"][-1]["bytes"]


def test_csv_lists_every_flow(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    write_csv(report, path)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(report.flows)
    assert sum(int(r["packets"]) for r in rows) == report.packets
    assert {r["tenant"] for r in rows} == {"red", "blue"}
    assert rows[0]["first_seen"].endswith("Z")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_with_charts_heatmap_and_anomalies(report: Report) -> None:
    page = render_html(report)
    parser = _Collect()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert not any((a.get("src") or a.get("href")) for _, a in parser.tags)
    assert report.series is not None
    sparks = len(report.series.vnis) + min(len(report.series.pairs), 20)
    assert tags.count("svg") == 3 + sparks  # packets per VNI, bytes per VNI, heatmap; one chart per VNI and pair
    assert [a.get("class") for t, a in parser.tags if t == "polyline"].count("bum") == sparks
    heat_cells = [a for t, a in parser.tags if t == "rect" and a.get("fill", "").startswith("#")]
    assert len(heat_cells) >= len(report.vnis)
    rows = [a.get("class") for t, a in parser.tags if t == "tr"]
    assert rows.count("warning") == len(report.anomalies)
    assert "leaf-c (10.99.0.3)" in "".join(parser.text)


def test_time_series_add_up_to_the_totals(report: Report) -> None:
    """Per VNI and per VTEP pair, packets and BUM over time sum to the report's counters."""
    series = report.series
    assert series is not None and series.step >= 1
    for vni, (packets, bum) in series.vnis.items():
        assert sum(packets) == report.vnis[vni].packets
        assert sum(bum) == report.vnis[vni].broadcast + report.vnis[vni].multicast
        assert max(bum) <= report.vnis[vni].max_bum_pps * series.step
    pair_totals: dict[tuple[str, str], int] = {}
    for pair in report.pairs:
        pair_totals[(pair.src, pair.dst)] = pair_totals.get((pair.src, pair.dst), 0) + pair.counters["packets"]
    assert {key: sum(packets) for key, (packets, _) in series.pairs.items()} == pair_totals


def test_html_escapes_capture_and_intent_text(report: Report) -> None:
    report.source = "<script>alert(1)</script>"
    assert "<script>" not in render_html(report)


def test_html_in_headless_chromium(report: Report, tmp_path: Path) -> None:
    """Chromium renders the page (Debian package `chromium`); the DOM keeps charts, heatmap and anomalies."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    page.write_text(render_html(report))
    base = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert report.series is not None
    sparks = len(report.series.vnis) + min(len(report.series.pairs), 20)
    assert dom.count("<svg") == 3 + sparks and 'class="heatmap"' in dom
    assert dom.count('class="spark"') == sparks and dom.count("<polyline") == 2 * sparks
    assert dom.count('class="warning"') == len(report.anomalies)
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_rich_summary_renders(report: Report) -> None:
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(summary(report))
    text = console.export_text()
    assert "Per VNI" in text and "missing-flood-peer" in text and "leaf-a -> leaf-b" in text


def test_prometheus_endpoint_serves_the_report(report: Report) -> None:
    server = serve_metrics(lambda: report, 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        server.shutdown()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    packets = {
        s.labels["vni"]: s.value for s in families["vxauto_overlay_packets"].samples if s.name.endswith("_total")
    }
    assert packets == {str(v): float(s.packets) for v, s in report.vnis.items()}
    pairs = [s for s in families["vxauto_overlay_pair_packets"].samples if s.name.endswith("_total")]
    assert {(s.labels["src_name"], s.labels["dst_name"]) for s in pairs} >= {("leaf-a", "leaf-b")}
    anomalies = {(s.labels["kind"]): s.value for s in families["vxauto_overlay_anomalies"].samples}
    assert anomalies == {"inner-vlan-tag": 1.0, "low-source-port-entropy": 1.0, "missing-flood-peer": 1.0}


def decode_ipfix(messages: list[bytes]) -> list[tuple[int, dict[int, bytes]]]:
    """A minimal RFC 7011 collector: (template id, {IE id: raw value}) per data record."""
    templates: dict[int, list[tuple[int, int]]] = {}
    records = []
    sequence = 0
    for message in messages:
        version, length, _time, seq, _domain = struct.unpack_from(">HHIII", message)
        assert version == 10 and length == len(message) and seq == sequence
        offset = 16
        while offset < length:
            set_id, set_length = struct.unpack_from(">HH", message, offset)
            body, offset = message[offset + 4 : offset + set_length], offset + set_length
            if set_id == 2:
                position = 0
                while position < len(body):
                    template_id, count = struct.unpack_from(">HH", body, position)
                    fields = [struct.unpack_from(">HH", body, position + 4 + 4 * i) for i in range(count)]
                    templates[template_id] = fields
                    position += 4 + 4 * count
                continue
            size = sum(width for _, width in templates[set_id])
            for start in range(0, len(body) - size + 1, size):
                values, position = {}, start
                for element, width in templates[set_id]:
                    values[element] = body[position : position + width]
                    position += width
                records.append((set_id, values))
                sequence += 1
    return records


def test_ipfix_export_decodes_back(report: Report, tmp_path: Path) -> None:
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(5)
    exporter = IpfixExporter("127.0.0.1", collector.getsockname()[1])
    try:
        sent = exporter.export(report, now=T0 + 10)
        messages = [collector.recv(65535) for _ in range(exporter.sent_messages)]
        assert exporter.export(report, now=T0 + 20) == 0  # nothing changed: delta export sends no records
    finally:
        exporter.close()
        collector.close()
    assert sent == len(report.flows) + len(report.pairs) and all(len(m) <= 1400 for m in messages)
    records = decode_ipfix(messages)
    assert len(records) == sent
    flows_v4 = [values for template, values in records if template == TEMPLATES["inner-ipv4"].template_id]
    vnis = {int.from_bytes(v[351], "big") for v in flows_v4}
    assert {vni >> 56 for vni in vnis} == {1} and {vni & 0xFFFFFF for vni in vnis} == {10010, 50001}
    tunnel = [v for t, v in records if t == TEMPLATES["tunnel-ipv4"].template_id]
    exported = sorted(
        (
            socket.inet_ntoa(v[8]),
            socket.inet_ntoa(v[12]),
            int.from_bytes(v[351], "big") & 0xFFFFFF,
            int.from_bytes(v[2], "big"),
        )
        for v in tunnel
    )
    assert exported == sorted((p.src, p.dst, p.vni, p.counters["packets"]) for p in report.pairs)
    assert sum(int.from_bytes(v[2], "big") for t, v in records if t < 260) == report.packets

    if shutil.which("tshark"):  # Wireshark's IPFIX dissector reads the same messages
        capture = tmp_path / "ipfix.pcap"
        header = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
        frames = []
        for message in messages:
            udp = struct.pack(">HHHH", 50000, 4739, 8 + len(message), 0) + message
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\x7f\0\0\1", b"\x7f\0\0\1")
            frames.append((T0, header + ip + udp))
        write_pcap(capture, frames)
        out = subprocess.run(
            [
                "tshark",
                "-n",
                "-r",
                str(capture),
                "-d",
                "udp.port==4739,cflow",
                "-T",
                "fields",
                "-e",
                "cflow.layer2_segment_id",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        seen = [int(value, 0) for line in out.split() for value in line.split(",") if value]
        assert len(seen) == sent and {value & 0xFFFFFF for value in seen} == {10010, 10030, 50001}
