"""Flow aggregation at any cardinality: the keyed-counter store, the heavy-hitter bound, bounded outputs."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.monitor.bench_captures import write_bench_capture
from vxauto.cli.monitor import app
from vxauto.monitor.analysis import Analyzer
from vxauto.monitor.report_formats import summary
from vxauto.monitor.store import KeyedCounters
from vxauto.monitor.table import COLUMNS, IPV4_MAPPED, PacketTable


def _store(capacity: int | None = None) -> KeyedCounters:
    return KeyedCounters(2, {"weight": "sum", "first": "min"}, capacity=capacity,
                         weight="weight" if capacity else None)


def _rows(rng: random.Random, count: int, keys: int) -> list[tuple[int, int, int, int]]:
    """(key a, key b, weight, time): skewed like traffic (a few big keys, a long tail)."""
    return [(int(rng.paretovariate(0.8)) % keys, rng.choice((0, 2**63 + 5)), rng.randint(1, 1500),
             rng.randint(0, 10**9)) for _ in range(count)]


def _fill(store: KeyedCounters, rows: list[tuple[int, int, int, int]]) -> KeyedCounters:
    for begin in range(0, len(rows), 997):  # odd batch sizes: compactions fall anywhere
        part = rows[begin : begin + 997]
        store.add([np.array([r[0] for r in part], np.uint64), np.array([r[1] for r in part], np.uint64)],
                  {"weight": np.array([r[2] for r in part]), "first": np.array([r[3] for r in part])})
    return store


def _as_dict(store: KeyedCounters) -> dict[tuple[int, int], tuple[int, int]]:
    store.compact()
    keys = zip(*(k.tolist() for k in store.keys), strict=True)
    return dict(zip(keys, zip(store.values["weight"].tolist(), store.values["first"].tolist(), strict=True),
                    strict=True))


def test_store_counts_exactly_and_merges_in_any_order() -> None:
    rng = random.Random(17)
    parts = [_rows(rng, 3000, 5000) for _ in range(4)]
    truth: dict[tuple[int, int], list[int]] = {}
    for a, b, weight, time in (row for part in parts for row in part):
        entry = truth.setdefault((a, b), [0, time])
        entry[0] += weight
        entry[1] = min(entry[1], time)
    one = _fill(_store(), [row for part in parts for row in part])
    stores = [_fill(_store(), part) for part in parts]
    left = stores[0]
    for store in stores[1:]:
        left.merge(store)
    stores = [_fill(_store(), part) for part in parts]
    stores[3].merge(stores[2])
    stores[1].merge(stores[0])
    stores[3].merge(stores[1])
    expected = {key: tuple(value) for key, value in truth.items()}
    assert _as_dict(one) == _as_dict(left) == _as_dict(stores[3]) == expected
    assert not one.pruned and one.error == 0


def test_store_stays_exact_when_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hash that puts many keys on 4 values: the store must notice and group by the keys themselves."""
    import vxauto.monitor.store as store_module

    monkeypatch.setattr(store_module, "_hash", lambda columns: (columns[0] % np.uint64(4)).astype(np.uint64))
    rng = random.Random(5)
    rows = _rows(rng, 5000, 300)
    truth: dict[tuple[int, int], list[int]] = {}
    for a, b, weight, time in rows:
        entry = truth.setdefault((a, b), [0, time])
        entry[0] += weight
        entry[1] = min(entry[1], time)
    store = _fill(_store(), rows)
    assert _as_dict(store) == {key: tuple(value) for key, value in truth.items()}
    assert (np.diff(store.hashes.astype(np.int64)) >= 0).all()  # kept in hash order (binary search relies on it)


@pytest.mark.parametrize("capacity", [1, 10, 200])
def test_heavy_hitter_summary_keeps_its_error_bound_through_merges(capacity: int) -> None:
    rng = random.Random(capacity)
    parts = [_rows(rng, 4000, 20_000) for _ in range(5)]
    truth: Counter[tuple[int, int]] = Counter()
    for a, b, weight, _ in (row for part in parts for row in part):
        truth[(a, b)] += weight
    total = sum(truth.values())
    stores = [_fill(_store(capacity), part) for part in parts]
    stores[4].merge(stores[3])
    stores[0].merge(stores[1])
    stores[0].merge(stores[2])
    stores[4].merge(stores[0])
    merged = stores[4]
    kept = {key: weight for key, (weight, _) in _as_dict(merged).items()}
    assert merged.pruned and 0 < merged.error <= total / (capacity + 1)
    assert len(kept) <= capacity
    for key, true in truth.items():
        estimate = kept.get(key, 0)
        assert true - merged.error <= estimate <= true, key
    # Positive control: the heaviest key is kept whenever it is heavier than the bound allows to lose.
    heaviest, weight = truth.most_common(1)[0]
    if weight > merged.error:
        assert heaviest in kept


def _table(count: int, flows: int, seed: int = 1) -> PacketTable:
    """`count` VXLAN packets over `flows` inner IPv4 UDP flows (flow 0 carries a quarter of the packets)."""
    rng = np.random.default_rng(seed)
    flow = np.where(rng.random(count) < 0.25, 0, rng.integers(0, flows, count))
    columns = {name: np.zeros(count, dtype) for name, dtype in COLUMNS}
    columns["ts_ns"] = 1_700_000_000 * 10**9 + np.arange(count, dtype=np.int64) * 1000
    columns["outer_src_lo"][:] = IPV4_MAPPED | 0x0A000001
    columns["outer_dst_lo"][:] = IPV4_MAPPED | (0x0A000002 + flow % 3).astype(np.uint64)
    columns["udp_sport"] = (flow * 7919 % 65536).astype(np.uint16)
    columns["udp_dport"][:] = 4789
    columns["vni"] = (10_000 + flow % 5).astype(np.uint32)
    columns["inner_len"] = 64 + (flow % 1400).astype(np.int64)
    columns["inner_dst_mac"][:] = 0x0200_0000_0002
    columns["inner_ethertype"][:] = 0x0800
    columns["inner_src_lo"] = (IPV4_MAPPED | 0x0B000000 | flow).astype(np.uint64)
    columns["inner_dst_lo"][:] = IPV4_MAPPED | 0x0C000001
    columns["inner_proto"][:] = 17
    columns["inner_sport"] = (flow % 60000).astype(np.uint16)
    columns["inner_dport"][:] = 53
    return PacketTable(columns)


def test_analyzer_flows_exact_below_the_bound_then_heavy_hitters() -> None:
    table = _table(200_000, 50_000)
    exact = Analyzer(max_flows=100_000, top_flows=5)
    exact.add(table)
    report = exact.report()
    info = report.flow_info()
    distinct = len(np.unique(table.inner_src_lo))
    assert info.mode == "exact" and info.flows == distinct and info.error_bytes == 0
    assert len(report.flows) == 5 and report.flows[0].src == "11.0.0.0"
    assert report.flows[0].packets == int((table.inner_src_lo == (IPV4_MAPPED | 0x0B000000)).sum())

    bounded = Analyzer(max_flows=1000, top_flows=5)
    for begin in range(0, len(table), 30_000):
        bounded.add(table.select(slice(begin, begin + 30_000)))
    report = bounded.report()
    info = report.flow_info()
    assert info.mode == "heavy-hitters" and 0 < info.error_bytes <= report.bytes / 1001
    assert abs(info.flows - distinct) < 0.1 * distinct  # estimated from the flow-hash sample
    top = report.flows[0]
    true_bytes = int(table.inner_len[table.inner_src_lo == (IPV4_MAPPED | 0x0B000000)].sum())
    assert top.src == "11.0.0.0" and true_bytes - info.error_bytes <= top.bytes <= true_bytes
    # Per-VNI counters stay exact whatever the flow table holds.
    assert {v: s.packets for v, s in report.vnis.items()} == dict(Counter(table.vni.tolist()))
    assert report.as_dict()["flow_summary"]["mode"] == "heavy-hitters"  # type: ignore[index]


def test_flows_all_streams_every_flow_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "unique.pcap"
    per_vni = write_bench_capture(path, 3000, unique_flows=True)
    result = CliRunner().invoke(app, ["pcap", str(path), "--flows", "all"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    flows, report = lines[:-1], lines[-1]["report"]
    assert len(flows) == report["flow_summary"]["flows"] == sum(per_vni.values())  # every packet its own flow
    assert sum(f["packets"] for f in flows) == report["packets"]
    assert [f["bytes"] for f in flows] == sorted((f["bytes"] for f in flows), reverse=True)
    top = CliRunner().invoke(app, ["pcap", str(path), "--json", "--flows", "7"])
    document = json.loads(top.stdout)
    assert len(document["flows"]) == 7 and document["flow_summary"]["mode"] == "exact"
    bad = CliRunner().invoke(app, ["pcap", str(path), "--flows", "many"])
    assert bad.exit_code == 2 and "--flows" in bad.output


def test_tables_wrap_whole_addresses_at_80_columns() -> None:
    table = _table(2000, 40)
    table.columns["outer_src_hi"][:] = 0xFD00_0000_0000_0000
    table.columns["outer_src_lo"][:] = 0x0000_0000_0000_1234
    analyzer = Analyzer(top_flows=5)
    analyzer.add(table)
    console = Console(record=True, width=80)
    console.print(summary(analyzer.report()))
    text = console.export_text()
    assert "\u2026" not in text and "..." not in text  # nothing cut short
    assert max(len(line) for line in text.splitlines()) <= 80
    for address in ("fd00::1234", "10.0.0.2", "10.0.0.4", "11.0.0.0", "12.0.0.1"):
        assert address in text  # whole, on one line
