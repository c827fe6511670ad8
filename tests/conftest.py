"""Shared test helpers: paths and a copy of the demo inventory to mutate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_INVENTORY = REPO / "inventory"


@pytest.fixture
def demo_inventory(tmp_path: Path) -> Path:
    """A private copy of inventory/ that a test may edit."""
    target = tmp_path / "inventory"
    shutil.copytree(DEMO_INVENTORY, target)
    return target
