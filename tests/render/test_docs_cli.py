"""`vxauto docs`, `vxauto schema`, `vxauto render` and `vxauto fabric generate` through the CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DEMO_INVENTORY
from vxauto.cli.main import app
from vxauto.model import load_fabric

runner = CliRunner()


def test_docs_tables_diagrams_and_capabilities(tmp_path: Path) -> None:
    result = runner.invoke(app, ["docs", "-i", str(DEMO_INVENTORY), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "segments.csv").open()))
    by_name = {row["segment"]: row for row in rows}
    assert by_name["red-db"]["vteps"] == "leaf1 leaf2"
    assert by_name["red-db"]["vtep_ips"] == "10.0.0.11 10.0.0.12"
    assert by_name["blue-web"]["route_target"] == "65000:10030"
    capabilities = {row["platform"]: row for row in csv.DictReader((tmp_path / "capabilities.csv").open())}
    assert capabilities["srlinux"]["static_flood"] == "no"
    assert capabilities["eos"]["evpn"] == "yes"
    # issue 14: what each vendor accepts, from the platform record
    assert capabilities["nxos"]["custom_udp_port"] == "no" and capabilities["nxos"]["vnis"] == "4096-16773119"
    assert capabilities["junos"]["vnis"] == "1-16777214"
    assert capabilities["cumulus"]["releases"] == "5.0-5.14 (default 5.12)" and capabilities["frr"]["releases"] == "any"
    markdown = (tmp_path / "README.md").read_text()
    assert "```mermaid" in markdown and "n_leaf1 --- n_seg_red_db" in markdown
    assert "| red-db | red | 20 | 10020 | evpn | 65000:10020 |" in markdown
    if shutil.which("dot"):
        svg = (tmp_path / "overlay.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "VNI 10020" in svg


def test_schema_exports_json_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    fabric_schema = json.loads((tmp_path / "fabric.schema.json").read_text())
    vni = fabric_schema["$defs"]["Segment"]["properties"]["vni"]
    assert (vni["minimum"], vni["maximum"]) == (1, 16777215)
    host_schema = json.loads((tmp_path / "host.schema.json").read_text())
    assert "eos" in json.dumps(host_schema["properties"]["platform"])


def test_render_filters_and_output_layout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "-i", str(DEMO_INVENTORY), "--out", str(tmp_path), "--role", "leaf",
                                 "--hosts", "leaf2,leaf3,h1", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaf2", "leaf3"]
    assert (tmp_path / "leaf2" / "frr.conf").read_text().startswith("! vxauto: FRR configuration of leaf2")
    result = runner.invoke(app, ["render", "-i", str(DEMO_INVENTORY), "--out", str(tmp_path), "--hosts", "h1"])
    assert result.exit_code == 0
    assert (tmp_path / "h1.sh").exists()


def test_render_unknown_filter_is_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "-i", str(DEMO_INVENTORY), "--out", str(tmp_path), "--hosts", "leaf9"])
    assert result.exit_code == 2
    assert "--hosts: unknown host (got 'leaf9')" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("arguments", [["--flood", "multicast"], ["--platforms", "ios"], ["--leaves", "0"]])
def test_generate_rejects_bad_options(tmp_path: Path, arguments: list[str]) -> None:
    result = runner.invoke(app, ["fabric", "generate", "--out", str(tmp_path / "g"), *arguments])
    assert result.exit_code == 2, result.output


def test_generate_then_check(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fabric", "generate", "--out", str(tmp_path), "--leaves", "5", "--vnis", "12",
                                 "--platforms", "eos,nxos,junos", "--flood", "static", "--span", "2"])
    assert result.exit_code == 0, result.output
    fabric = load_fabric(tmp_path)
    assert {fabric.hosts[f"leaf{i}"].platform for i in (1, 2, 3)} == {"eos", "nxos", "junos"}
    assert all(len(fabric.attachments[s.name]) == 2 for s in fabric.intent.segments)
    assert runner.invoke(app, ["check", "-i", str(tmp_path)]).exit_code == 0
