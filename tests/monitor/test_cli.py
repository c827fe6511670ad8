"""`vxauto monitor pcap` and `vxauto monitor live` through the Typer app."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.monitor.monitor_lab import INTENT as LAB_INTENT
from tests.monitor.monitor_lab import MonitorLab, Segment
from tests.monitor.packets import write_pcap
from tests.monitor.test_checks import INTENT, clean_traffic, flood_to_one_peer
from vxauto.cli.monitor import app

runner = CliRunner()


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "traffic.pcap"
    write_pcap(path, [(float(p.time), bytes(p)) for p in [*clean_traffic(), *flood_to_one_peer()]])
    return path


def test_pcap_json_csv_html(capture: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "pcap",
            str(capture),
            "-i",
            str(INTENT),
            "--json",
            "--csv",
            str(tmp_path / "f.csv"),
            "--html",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["packets"] == sum(v["packets"] for v in data["vnis"].values()) > 0
    assert [a["kind"] for a in data["anomalies"]] == ["missing-flood-peer"]
    assert (tmp_path / "f.csv").read_text().startswith("vni,tenant,")
    assert "<svg" in (tmp_path / "r.html").read_text()


def test_pcap_table_output_and_fail_on(capture: Path) -> None:
    result = runner.invoke(app, ["pcap", str(capture), "-i", str(INTENT)])
    assert result.exit_code == 0 and "Per VNI" in result.stdout and "missing-flood-peer" in result.stdout
    assert runner.invoke(app, ["pcap", str(capture), "-i", str(INTENT), "--fail-on", "warning"]).exit_code == 1
    assert runner.invoke(app, ["pcap", str(capture), "-i", str(INTENT), "--fail-on", "error"]).exit_code == 0


def test_corrupt_capture_exits_2_naming_file_and_offset(capture: Path) -> None:
    data = bytearray(capture.read_bytes())
    data[24 + 8 : 24 + 12] = (10**9).to_bytes(4, "little")
    capture.write_bytes(bytes(data))
    result = runner.invoke(app, ["pcap", str(capture)])
    assert result.exit_code == 2
    assert f"{capture}: offset 24: corrupt pcap record" in result.output
    kept = runner.invoke(app, ["pcap", str(capture), "--keep-going", "--json"])
    assert kept.exit_code == 0 and json.loads(kept.stdout)["anomalies"][0]["kind"] == "capture-file"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--ports", "4789,x"], "--ports"),
        (["-i", "/nonexistent/inventory"], "nonexistent"),
        (["--ipfix", "nowhere"], "--ipfix"),
    ],
)
def test_bad_options_exit_2(capture: Path, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["pcap", str(capture), *arguments])
    assert result.exit_code == 2 and message in result.output


def test_pcap_exports_ipfix(capture: Path) -> None:
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(5)
    try:
        result = runner.invoke(
            app, ["pcap", str(capture), "--json", "--ipfix", f"127.0.0.1:{collector.getsockname()[1]}"]
        )
        assert result.exit_code == 0, result.output
        assert collector.recv(65535)[:2] == b"\x00\x0a"
    finally:
        collector.close()


def test_live_needs_lab_and_node_together(tmp_path: Path) -> None:
    result = runner.invoke(app, ["live", "--iface", "und", "--lab", str(tmp_path / "x.yml")])
    assert result.exit_code == 2 and "--lab and --node" in result.output
    topology = tmp_path / "lab.clab.yml"
    topology.write_text("name: mon\ntopology:\n  nodes:\n    a: {}\n")
    result = runner.invoke(app, ["live", "--iface", "und", "--lab", str(topology), "--node", "zz"])
    assert result.exit_code == 2 and "no node 'zz'" in result.output


@pytest.mark.lab
def test_live_capture_in_a_lab_node(monitor_lab: MonitorLab, tmp_path: Path) -> None:
    """`--lab FILE --node a` captures in namespace mon-a (lab name `mon`), while the lab pings across."""
    monitor_lab.build((Segment(10010, "10.10.10"), Segment(10030, "10.20.30")))
    topology = tmp_path / "mon.clab.yml"
    topology.write_text("name: mon\ntopology:\n  nodes:\n    a: {}\n    b: {}\n")

    def traffic() -> None:
        time.sleep(1.5)  # tcpdump is listening well before this
        monitor_lab.ping("mon-a", "10.10.10.2", count=5)
        monitor_lab.ping("mon-b", "10.20.30.1", count=5)

    sender = threading.Thread(target=traffic)
    sender.start()
    result = runner.invoke(
        app,
        [
            "live",
            "--lab",
            str(topology),
            "--node",
            "a",
            "--iface",
            "und",
            "--seconds",
            "5",
            "-i",
            str(LAB_INTENT),
            "--json",
        ],
    )
    sender.join()
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"] == "live netns mon-a und"
    assert data["vnis"]["10010"]["packets"] >= 10 and data["vnis"]["10030"]["packets"] >= 10
    assert data["anomalies"] == []


@pytest.mark.lab
def test_live_capture_unknown_namespace_exits_2() -> None:
    result = runner.invoke(app, ["live", "--netns", "mon-does-not-exist", "--iface", "und", "--seconds", "1"])
    assert result.exit_code == 2 and "no such network namespace" in result.output


@pytest.mark.lab
def test_live_top_view_and_prometheus(monitor_lab: MonitorLab) -> None:
    """The live top view refreshes while capturing; the Prometheus endpoint serves the running counters."""
    monitor_lab.build((Segment(10010, "10.10.10"),))
    scraped: list[str] = []

    def traffic() -> None:
        time.sleep(1.0)
        monitor_lab.ping("mon-a", "10.10.10.2", count=5)
        for _ in range(20):  # the endpoint port is printed on stderr; find it through /proc instead
            port = _listening_port()
            if port:
                scraped.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())
                return
            time.sleep(0.1)

    sender = threading.Thread(target=traffic)
    sender.start()
    result = runner.invoke(
        app, ["live", "--netns", "mon-a", "--iface", "und", "--seconds", "3.5", "--top", "--prometheus", "0"]
    )
    sender.join()
    assert result.exit_code == 0, result.output
    assert "Per VNI" in result.stdout and "10010" in result.stdout
    assert scraped and 'vxauto_overlay_packets_total{segment="",tenant="",vni="10010"}' in scraped[0]


def _listening_port() -> int | None:
    """The TCP port this process listens on at 127.0.0.1 (the metrics endpoint), from /proc/net/tcp."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes and fields[1].startswith("0100007F"):
            return int(fields[1].split(":")[1], 16)
    return None
