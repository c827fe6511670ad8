"""The broken-intent corpus: every case must exit 2 and name file, YAML path and value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import DEMO_INVENTORY, REPO
from vxauto.cli.main import app

CASES = yaml.safe_load((REPO / "tests/fixtures/broken/cases.yaml").read_text())


def apply_case(case: dict, inventory: Path) -> None:
    if "delete" in case:
        (inventory / case["delete"]).unlink()
    for edit in case.get("edits", []):
        path = inventory / edit["file"]
        text = path.read_text()
        assert edit["old"] in text, f"case {case['name']}: {edit['old']!r} not in {edit['file']}"
        path.write_text(text.replace(edit["old"], edit["new"], 1))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_broken_intent_exits_2_naming_the_field(case: dict, demo_inventory: Path) -> None:
    apply_case(case, demo_inventory)
    result = CliRunner().invoke(app, ["check", "-i", str(demo_inventory)])
    expect = case["expect"]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line.strip() for line in result.output.splitlines()]
    location = f"{expect['file']}"
    matching = [
        line for line in lines
        if location in line and (not expect["path"] or f": {expect['path']}:" in line) and expect["message"] in line
    ]
    assert matching, f"no line names {expect}:\n{result.output}"
    if "value" in expect:
        assert any(expect["value"] in line for line in matching), result.output
    # The file is named with its line where one is known.
    if expect["path"]:
        assert any(f"{expect['file']}:" in line.split(": ")[0] for line in matching), result.output


def test_demo_inventory_is_valid() -> None:
    result = CliRunner().invoke(app, ["check", "-i", str(DEMO_INVENTORY)])
    assert result.exit_code == 0, result.output
    assert "4 VTEPs, 4 segments, 2 tenants" in result.output


def test_real_process_prints_no_traceback(demo_inventory: Path) -> None:
    """The installed entry point, not the in-process runner: exit 2, problems on stderr, no traceback."""
    (demo_inventory / "fabric.yaml").write_text((demo_inventory / "fabric.yaml").read_text().replace(
        "vni: 10020", "vni: 10010"))
    proc = subprocess.run(
        [sys.executable, "-m", "vxauto.cli.main", "check", "-i", str(demo_inventory)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "segments[1].vni" in proc.stderr
