"""`vxauto validate` command line: bad input exits 2 naming the problem, before any device is touched."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import DEMO_INVENTORY, REPO
from vxauto.cli.main import app


def run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *arguments])
    return result.exit_code, result.output


def test_missing_inventory_exits_2(tmp_path: Path) -> None:
    code, output = run("-i", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere" in output


def test_unknown_host_exits_2() -> None:
    code, output = run("-i", str(DEMO_INVENTORY), "--hosts", "leaf9")
    assert code == 2 and "unknown host" in output and "leaf9" in output


def test_bad_numbers_exit_2() -> None:
    code, output = run("-i", str(DEMO_INVENTORY), "--workers", "0")
    assert code == 2 and "--workers" in output
    code, output = run("-i", str(DEMO_INVENTORY), "--settle", "-1")
    assert code == 2 and "--settle" in output


def test_an_empty_selection_exits_2() -> None:
    code, output = run("-i", str(DEMO_INVENTORY), "--platform", "eos")
    assert code == 2 and "nothing to validate" in output


def test_a_lab_that_is_not_up_exits_2(tmp_path: Path) -> None:
    # a private copy of the topology: never the file of a lab somebody may be running
    topology = tmp_path / "evpn-frr.clab.yml"
    shutil.copy(REPO / "containerlab" / "evpn-frr.clab.yml", topology)
    code, output = run("-i", str(DEMO_INVENTORY), "--lab", str(topology))
    assert code == 2 and "--lab" in output and str(topology) in output


def test_traffic_needs_a_lab() -> None:
    from typer.testing import CliRunner

    from tests.conftest import DEMO_INVENTORY
    from vxauto.cli.main import app

    result = CliRunner().invoke(app, ["validate", "-i", str(DEMO_INVENTORY), "--traffic"])
    assert result.exit_code == 2
    assert "--traffic: needs --lab" in result.output
