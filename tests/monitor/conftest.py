"""Fixtures of the monitor tests: a kernel VXLAN lab (namespaces mon-*) that always tears down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitor.monitor_lab import MonitorLab, missing_requirements


@pytest.fixture
def monitor_lab(tmp_path: Path) -> Iterator[MonitorLab]:
    reason = missing_requirements("tcpdump", "ping")
    if reason:
        pytest.skip(reason)
    lab = MonitorLab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()
