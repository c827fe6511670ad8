"""Every benchmark capture (bench/monitor.py, at test size): vxauto counts the same packets per VNI as tshark."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.monitor.bench_captures import bench_module, write_bench_capture
from vxauto.monitor.analysis import Analyzer
from vxauto.monitor.capture import read_capture
from vxauto.monitor.decode import Decoder


@pytest.mark.parametrize("capture", ["few-flows", "every-packet-a-flow"])
def test_per_vni_counts_equal_tsharks(capture: str, tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    assert set(bench_module().CAPTURES) == {"few-flows", "every-packet-a-flow"}  # a new capture needs a case here
    path = tmp_path / f"{capture}.pcap"
    generated = write_bench_capture(path, 4000, unique_flows=capture == "every-packet-a-flow")
    decoder, analyzer = Decoder((4789, 8472)), Analyzer()
    for table in decoder.decode_batches(read_capture(path)):
        analyzer.add(table)
    report = analyzer.report(decoder.finish(), str(path))
    ours = Counter({vni: summary.packets for vni, summary in report.vnis.items()})
    command = ["tshark", "-n", "-r", str(path), "-d", "udp.port==8472,vxlan", "-T", "fields", "-e", "vxlan.vni"]
    theirs = Counter(int(line) for line in subprocess.run(command, capture_output=True, text=True, check=True,
                                                          timeout=300).stdout.split())
    assert ours == theirs == generated
    if capture == "every-packet-a-flow":
        assert report.decode.statuses["other"] > 0  # plain traffic is there, and not counted as VXLAN
        assert report.flow_info().flows == report.packets
