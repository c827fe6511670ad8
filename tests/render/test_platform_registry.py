"""A new platform is one record plus its templates: a toy platform, registered from a temporary directory,
passes `vxauto check` and renders through `vxauto render` without any other change to vxauto."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vxauto.cli.main import app
from vxauto.model import load_fabric
from vxauto.model.platforms import Feature, Output, Platform, register_platform, unregister_platform

INTENT = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "vendor-eos"
runner = CliRunner()

TOY_TEMPLATE = """\
# toy configuration of {{ device.name }}
vtep {{ device.vtep_ip }} port {{ device.udp_port }}
{% for segment in device.segments %}
vni {{ segment.vni }} vlan {{ segment.vlan }} flood {{ segment.flood_peers | join(" ") }}
{% endfor %}
"""


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[Path]:
    """The toy platform registered (static flooding only, leaves only), and an intent whose leaves use it."""
    templates = tmp_path / "templates"
    (templates / "toy").mkdir(parents=True)
    (templates / "toy" / "config.j2").write_text(TOY_TEMPLATE, encoding="utf-8")
    record = Platform("toy", "Toy VTEP", frozenset({Feature.STATIC_FLOOD}), frozenset({"leaf"}),
                      outputs=(Output("config.txt", "toy/config.j2"),), interface_names=("port{n}", "lo"))
    register_platform(record, templates=templates)
    intent = tmp_path / "intent"
    shutil.copytree(INTENT, intent)
    groups = intent / "groups.yaml"
    groups.write_text(groups.read_text().replace("leaves:\n  platform: eos", "leaves:\n  platform: toy"))
    try:
        yield intent
    finally:
        unregister_platform("toy", templates)


def test_toy_platform_checks_and_renders(toy: Path, tmp_path: Path) -> None:
    # Positive control first: the EVPN intent is refused because the toy record lacks EVPN, by the record.
    refused = runner.invoke(app, ["check", "-i", str(toy)])
    assert refused.exit_code == 2, refused.output
    assert "does not support evpn" in refused.output
    shutil.copyfile(toy / "fabric-static.yaml", toy / "fabric.yaml")
    checked = runner.invoke(app, ["check", "-i", str(toy)])
    assert checked.exit_code == 0, checked.output
    out = tmp_path / "out"
    rendered = runner.invoke(app, ["render", "-i", str(toy), "--out", str(out)])
    assert rendered.exit_code == 0, rendered.output
    fabric = load_fabric(toy)
    leaf1 = fabric.device("leaf1")
    expected = [f"vni {s.vni} vlan {s.vlan} flood {' '.join(s.flood_peers)}" for s in leaf1.segments]
    text = (out / "leaf1.txt").read_text()
    assert text.splitlines() == ["# toy configuration of leaf1", f"vtep {leaf1.vtep_ip} port 4789", *expected]
    assert "vni 10010 vlan 10 flood 10.0.0.13 10.0.1.12" in text  # red-web: attached to all three leaves
    assert (out / "spine1.cfg").read_text().startswith("! vxauto: Arista EOS configuration of spine1")


def test_unknown_platform_is_refused_once_unregistered(toy: Path) -> None:
    unregister_platform("toy")
    result = runner.invoke(app, ["check", "-i", str(toy)])
    assert result.exit_code == 2
    assert "leaves.platform" in result.output and "'eos'" in result.output
