"""Fixtures for pyvtep tests: a `Lab` that always tears down its namespaces and processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helpers (vtep_lab) live next to the tests

from vtep_lab import Lab, have_root_and_tools


@pytest.fixture
def vtep_lab(tmp_path: Path) -> Iterator[Lab]:
    reason = have_root_and_tools("tcpdump", "bridge")
    if reason:
        pytest.skip(reason)
    instance = Lab(tmp_path)
    try:
        yield instance
    finally:
        instance.close()
