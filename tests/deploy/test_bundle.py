"""The configuration bundle: one text that carries frr.conf and the kernel part through NAPALM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vxauto.deploy.tasks import configuration_text
from vxauto.devices.napalm_frr.bundle import FORMAT, Bundle
from vxauto.errors import VxautoError
from vxauto.model.fabric import load_fabric
from vxauto.render.engine import render_device


def test_rendered_leaf_travels_as_one_text_and_back(demo_inventory: Path) -> None:
    rendered = render_device(load_fabric(demo_inventory).device("leaf1"))
    text = configuration_text(rendered)
    assert json.loads(text)["format"] == FORMAT
    bundle = Bundle.loads(text, "config")
    assert bundle.files == rendered.files
    assert bundle.frr_config == rendered.files["frr.conf"]
    assert bundle.kernel().lines() == Bundle.from_rendered(rendered).kernel().lines()


def test_files_on_disk_load_like_the_text(demo_inventory: Path, tmp_path: Path) -> None:
    for rendered in (render_device(load_fabric(demo_inventory).device(name)) for name in ("leaf1", "h1")):
        written = rendered.write(tmp_path)
        source = written[0].parent if not rendered.single else written[0]
        assert Bundle.from_path(source).kernel().lines() == Bundle.from_rendered(rendered).kernel().lines()
    saved = tmp_path / "backup.json"
    saved.write_text(Bundle({"kernel.state": "link lo state=up\n"}).dumps())
    assert Bundle.from_path(saved).kernel().lines() == ["link lo state=up"]


@pytest.mark.parametrize(("text", "path", "message"), [
    ("frr version 8.4\nhostname x\n", "", "not a vxauto configuration bundle"),
    (json.dumps({"format": "other/1", "files": {}}), "format", "expected 'vxauto-bundle/1'"),
    (json.dumps({"format": FORMAT, "files": {"frr.conf": 1}}), "files", "file name -> text"),
    (json.dumps({"format": FORMAT, "files": {"netplan.yaml": "x"}}), "files", "not deployable here"),
    (json.dumps({"format": FORMAT, "files": {}}), "files", "empty bundle"),
])
def test_bad_bundles_are_refused_with_what_is_wrong(text: str, path: str, message: str) -> None:
    with pytest.raises(VxautoError) as caught:
        Bundle.loads(text, "cli")
    (problem,) = caught.value.problems
    assert problem.path == path and message in problem.message


def test_other_platforms_travel_as_their_single_rendered_file(demo_inventory: Path) -> None:
    fabric = load_fabric(demo_inventory)
    leaf = render_device(fabric.device("leaf1"))
    eos = type(leaf)("leaf1", "eos", {"config.cfg": "hostname leaf1\n"}, True)
    assert configuration_text(eos) == "hostname leaf1\n"


def test_sanitized_configs_hide_passwords_and_keep_the_rest() -> None:
    from vxauto.devices.napalm_frr.driver import _sanitized

    text = "router bgp 1\n neighbor 10.0.0.1 password s3cr3t\n neighbor 10.0.0.1 remote-as 2\n"
    assert _sanitized(text) == "router bgp 1\n neighbor 10.0.0.1 password <removed>\n neighbor 10.0.0.1 remote-as 2\n"
