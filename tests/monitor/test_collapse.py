"""Identical packets of a batch are folded as one weighted row (analysis.collapse): the report is the same
as folding every packet, also when the row hash collides, and a scan is left as it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.monitor.bench_captures import write_bench_capture
from vxauto.monitor import analysis
from vxauto.monitor.analysis import Analyzer, collapse
from vxauto.monitor.capture import read_capture
from vxauto.monitor.decode import Decoder
from vxauto.monitor.report_json import to_json
from vxauto.monitor.table import PacketTable


def decoded(path: Path) -> PacketTable:
    return Decoder((4789, 8472)).decode(read_capture(path))


def report_json(table: PacketTable, collapsing: bool) -> str:
    analyzer = Analyzer()
    analyzer.collapse = collapsing
    for begin in range(0, len(table), 1000):  # several batches, as the decoder hands them over
        analyzer.add(table.select(np.arange(begin, min(begin + 1000, len(table)))))
    return to_json(analyzer.report())


@pytest.fixture(scope="module")
def few_flows(tmp_path_factory: pytest.TempPathFactory) -> PacketTable:
    path = tmp_path_factory.mktemp("collapse") / "few-flows.pcap"
    write_bench_capture(path, 6000, templates=64)  # 64 packets templates: about 15 copies of each per batch
    return decoded(path)


def test_collapsed_report_equals_the_packet_by_packet_one(few_flows: PacketTable) -> None:
    rows = collapse(few_flows)
    assert len(rows.table) < len(few_flows) / 5 and int(rows.weight.sum()) == len(few_flows)
    assert report_json(few_flows, True) == report_json(few_flows, False)


def test_a_hash_collision_falls_back_to_every_row(few_flows: PacketTable, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a hash that maps every row to one value, the word-by-word check sees different rows in one
    group and the batch is folded row by row: counts stay exact."""
    real_hash = analysis.groupby._hash
    monkeypatch.setattr(analysis.groupby, "_hash", lambda columns: real_hash(columns[:1]) if len(columns) == 13
                        else real_hash(columns))  # the row hash sees only the outer source's high half
    rows = collapse(few_flows)
    assert len(rows.table) == len(few_flows)
    assert report_json(few_flows, True) == report_json(few_flows, False)


def test_a_scan_is_not_collapsed(tmp_path: Path) -> None:
    path = tmp_path / "scan.pcap"
    write_bench_capture(path, 3000, unique_flows=True, templates=64)
    table = decoded(path)
    assert len(collapse(table).table) == len(table)
    assert report_json(table, True) == report_json(table, False)
