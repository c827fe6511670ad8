"""The captures of bench/monitor.py, at test size: one definition for the benchmark and the tests."""

from __future__ import annotations

import importlib.util
from collections import Counter
from functools import cache
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "monitor.py"


@cache
def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vxauto_bench_monitor", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_bench_capture(path: Path, packets: int, unique_flows: bool = False, templates: int = 512) -> Counter[int]:
    """Write a benchmark capture ('few-flows', or 'every-packet-a-flow'); returns VXLAN packets per VNI."""
    bench = bench_module()
    options = bench.CAPTURES["every-packet-a-flow" if unique_flows else "few-flows"]
    result: Counter[int] = bench.generate(path, packets, templates=templates, **options)
    return result
