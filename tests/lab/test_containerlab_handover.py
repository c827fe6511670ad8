"""When vxauto hands a topology to the real containerlab, and what it hands over (no Docker needed)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from tests.lab.conftest import CONTAINERLAB, REPO, render
from vxauto.lab.configs import node_startups
from vxauto.lab.containerlab import (
    PYVTEP_CONFIG,
    PYVTEP_START,
    Environment,
    choose_runtime,
    derived_topology,
    probe_environment,
)
from vxauto.lab.netns import LabError
from vxauto.lab.topology import load_topology

BOTH = Environment("/usr/bin/containerlab", True)
NO_ENGINE = Environment("/usr/bin/containerlab", False)
NOTHING = Environment(None, False)


@pytest.mark.parametrize(
    ("requested", "environment", "chosen"),
    [
        ("auto", BOTH, "containerlab"),
        ("auto", NO_ENGINE, "netns"),
        ("auto", NOTHING, "netns"),
        ("netns", BOTH, "netns"),
        ("containerlab", BOTH, "containerlab"),
    ],
)
def test_runtime_choice(requested: str, environment: Environment, chosen: str) -> None:
    assert choose_runtime(requested, environment) == chosen


@pytest.mark.parametrize(
    ("environment", "reason"),
    [(NO_ENGINE, "no Docker engine answers"), (NOTHING, "containerlab is not on PATH")],
)
def test_containerlab_requested_but_unusable(environment: Environment, reason: str) -> None:
    with pytest.raises(LabError, match=reason):
        choose_runtime("containerlab", environment)


def test_unknown_runtime() -> None:
    with pytest.raises(LabError, match="unknown runtime 'docker'"):
        choose_runtime("docker", BOTH)


def _executable(path: Path, exit_code: int) -> str:
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize("docker_exit", [0, 1])
def test_probe_asks_docker_only_when_containerlab_exists(tmp_path: Path, docker_exit: int) -> None:
    tools = {"containerlab": _executable(tmp_path / "containerlab", 0),
             "docker": _executable(tmp_path / "docker", docker_exit)}
    environment = probe_environment(which=tools.get)
    assert environment == Environment(tools["containerlab"], docker_exit == 0)
    asked: list[str] = []
    assert probe_environment(which=asked.append) == NOTHING
    assert asked == ["containerlab"]  # without containerlab, Docker is never asked


def test_derived_topology_loads_rendered_configs(tmp_path: Path) -> None:
    topology = load_topology(CONTAINERLAB / "evpn-frr.clab.yml")
    configs = render(REPO / "inventory", tmp_path / "configs")
    startups = node_startups(topology, configs)
    data = derived_topology(topology, startups, tmp_path / "work")
    nodes = data["topology"]["nodes"]
    leaf = nodes["leaf1"]
    frr_conf, daemons = (tmp_path / "work" / "leaf1" / "frr.conf"), (tmp_path / "work" / "leaf1" / "daemons")
    assert f"{frr_conf}:/etc/frr/frr.conf" in leaf["binds"]
    assert f"{daemons}:/etc/frr/daemons" in leaf["binds"]
    assert frr_conf.read_text() == (configs / "leaf1" / "frr.conf").read_text()
    assert "bgpd=yes" in daemons.read_text() and "staticd=yes" in daemons.read_text()
    assert f"{(configs / 'leaf1' / 'interfaces.sh').resolve()}:/vxauto/interfaces.sh:ro" in leaf["binds"]
    assert leaf["exec"] == ["sh /vxauto/interfaces.sh"]
    assert nodes["h1"]["exec"] == ["sh /vxauto/h1.sh"]
    # everything else is the user's topology, unchanged
    original = yaml.safe_load((CONTAINERLAB / "evpn-frr.clab.yml").read_text())
    assert data["name"] == original["name"] and data["mgmt"] == original["mgmt"]
    assert data["topology"]["links"] == original["topology"]["links"]
    assert nodes["leaf1"]["mgmt-ipv4"] == original["topology"]["nodes"]["leaf1"]["mgmt-ipv4"]


def test_derived_topology_runs_pyvtep_under_docker(tmp_path: Path) -> None:
    """mixed-pyvtep handed to containerlab: pv1 gets its pyvtep.yaml and starts pyvtep after its scripts."""
    topology = load_topology(CONTAINERLAB / "mixed-pyvtep.clab.yml")
    configs = render(CONTAINERLAB / "mixed-pyvtep" / "inventory", tmp_path / "configs")
    data = derived_topology(topology, node_startups(topology, configs), tmp_path / "work")
    pv1 = data["topology"]["nodes"]["pv1"]
    rendered = (configs / "pv1" / "pyvtep.yaml").resolve()
    assert f"{rendered}:{PYVTEP_CONFIG}:ro" in pv1["binds"]
    assert pv1["exec"] == ["sh /vxauto/interfaces.sh", PYVTEP_START]  # the bridges exist before pyvtep starts
    # started in the background (containerlab waits for each exec), by the module the netns runtime runs
    assert PYVTEP_START.startswith("sh -c 'nohup ") and PYVTEP_START.endswith(" &'")
    assert f"-m vxauto.vtep run {PYVTEP_CONFIG}" in PYVTEP_START
    # positive control: an FRR node gets no pyvtep
    assert not any(PYVTEP_CONFIG in bind for bind in data["topology"]["nodes"]["leaf1"]["binds"])
