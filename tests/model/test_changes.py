"""changed_hosts: the hosts an intent change concerns, from the derived facts before and after."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.conftest import REPO
from vxauto.model.changes import changed_hosts
from vxauto.model.fabric import load_fabric

INVENTORY = REPO / "inventory"


def edited(tmp_path: Path, edit: dict[str, object]) -> Path:
    copy = tmp_path / "inventory"
    shutil.copytree(INVENTORY, copy)
    intent = yaml.safe_load((copy / "fabric.yaml").read_text())
    for key, value in edit.items():
        if key == "segments":
            intent["segments"].append(value)
        else:
            intent["fabric"][key] = value
    (copy / "fabric.yaml").write_text(yaml.safe_dump(intent, sort_keys=False))
    return copy


def test_a_new_segment_concerns_only_the_leaves_it_is_attached_to(tmp_path: Path) -> None:
    before = load_fabric(INVENTORY)
    assert changed_hosts(before, load_fabric(INVENTORY)) == []  # control: the same intent changes nothing
    segment = {"name": "green-app", "vlan": 90, "vni": 10090, "tenant": "red", "attach": {"hosts": ["leaf3", "leaf1"]}}
    assert changed_hosts(before, load_fabric(edited(tmp_path, {"segments": segment}))) == ["leaf1", "leaf3"]


def test_a_fabric_wide_setting_concerns_every_host_that_renders_it(tmp_path: Path) -> None:
    before = load_fabric(INVENTORY)
    after = load_fabric(edited(tmp_path, {"overlay_mtu": 1450}))
    changed = changed_hosts(before, after)
    assert {"leaf1", "leaf2", "leaf3", "leaf4"} <= set(changed)
