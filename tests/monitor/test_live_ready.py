"""tcpdump's readiness: `LiveCapture.start` returns once tcpdump says "listening on", however its stderr
lines arrive; `--iface any` (which first prints "data link type LINUX_SLL2") works run after run."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.monitor.monitor_lab import MonitorLab, Segment
from vxauto.cli.monitor import app
from vxauto.monitor.analysis import Analyzer
from vxauto.monitor.decode import Decoder
from vxauto.monitor.live import LiveCapture, wait_for_sign

ANY_IFACE_BANNER = (b"tcpdump: data link type LINUX_SLL2\n"
                    b"listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes\n")


def test_the_sign_is_found_when_it_arrives_in_one_read_with_an_earlier_line() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, ANY_IFACE_BANNER)  # one write: a line-by-line reader would see only the first
        said = wait_for_sign(read_end, b"listening on", 5)
        assert said.found and "LINUX_SLL2" in said.text
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_writer_that_ends_without_the_sign_is_reported_at_once() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"tcpdump: any: You don't have permission to capture on that device\n")
    os.close(write_end)
    try:
        said = wait_for_sign(read_end, b"listening on", 30)
        assert not said.found and said.ended and "permission" in said.text
    finally:
        os.close(read_end)


@pytest.mark.lab
def test_capture_on_any_is_ready_when_start_returns_three_runs_of_three(monitor_lab: MonitorLab) -> None:
    """No sleep between start() and the traffic: every ping after start() must be in the capture."""
    monitor_lab.build((Segment(10010, "10.10.10"),))
    for _ in range(3):
        capture = LiveCapture("any", Analyzer(None), Decoder((4789,)), netns="mon-a", bpf="udp port 4789")
        capture.start()
        try:
            monitor_lab.ping("mon-a", "10.10.10.2", count=3)
        finally:
            capture.stop()
        capture.decoder.finish()
        report = capture.report()
        # 3 echo requests out and 3 replies in, each seen once on `und` (VXLAN) by the cooked capture
        assert report.vnis[10010].packets >= 6, report.as_dict()


@pytest.mark.lab
def test_monitor_live_iface_any_through_the_cli(monitor_lab: MonitorLab, tmp_path: Path) -> None:
    monitor_lab.build((Segment(10010, "10.10.10"),))
    # traffic over the whole capture window, so the test needs no guess of when tcpdump is listening
    sender = threading.Thread(target=monitor_lab.ping, args=("mon-b", "10.10.10.1"), kwargs={"count": 15})
    sender.start()
    try:
        result = CliRunner().invoke(app, ["live", "--netns", "mon-a", "--iface", "any", "--seconds", "2", "--json"])
    finally:
        sender.join()
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"] == "live netns mon-a any"
    assert data["vnis"]["10010"]["packets"] > 0
