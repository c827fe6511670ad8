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


def edit(inventory: Path, file: str, old: str, new: str) -> None:
    """Replace the first `old` in `inventory/file` by `new` (a test's edit of a copied inventory); `old` must
    be there, so a fixture that changed under a test fails loudly instead of leaving the edit undone."""
    path = inventory / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))
