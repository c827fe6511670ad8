"""`vxauto deploy` / `vxauto rollback` without a device: bad input is refused before anything connects,
and every host gets the NAPALM driver of its platform."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nornir_napalm.plugins.connections import CONNECTION_NAME
from typer.testing import CliRunner

from tests.deploy.conftest import TOPOLOGY
from vxauto.cli.main import app
from vxauto.deploy.run import connect_nornir
from vxauto.errors import VxautoError
from vxauto.model.fabric import load_fabric
from vxauto.model.generate import GenerateOptions, generate, write_inventory


def run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(arguments))
    return result.exit_code, result.output


@pytest.mark.parametrize(("arguments", "message"), [
    (["--merge", "--replace"], "choose one"),
    (["--hosts", "leaf9"], "unknown host"),
    (["--confirm-timeout", "0"], "confirm-timeout"),
])
def test_bad_options_exit_2_before_connecting(demo_inventory: Path, arguments: list[str], message: str) -> None:
    code, output = run("deploy", "-i", str(demo_inventory), *arguments)
    assert code == 2 and message in output


def test_a_lab_that_is_not_up_is_bad_input(demo_inventory: Path, tmp_path: Path) -> None:
    topology = tmp_path / "evpn-frr.clab.yml"  # a copy: never the lab someone may be running
    shutil.copy(TOPOLOGY, topology)
    code, output = run("deploy", "-i", str(demo_inventory), "--lab", str(topology))
    assert code == 2 and "is not up" in output


def test_rollback_of_an_unknown_host_is_bad_input(demo_inventory: Path) -> None:
    code, output = run("rollback", "leaf9", "-i", str(demo_inventory))
    assert code == 2 and "unknown host" in output


def test_rollback_to_a_missing_backup_is_bad_input(demo_inventory: Path, tmp_path: Path) -> None:
    code, output = run("rollback", "leaf1", "-i", str(demo_inventory), "--to", "nope.json", "--backups",
                       str(tmp_path))
    assert code == 2 and "no such backup" in output


def test_each_platform_gets_its_napalm_driver(tmp_path: Path) -> None:
    files = generate(GenerateOptions(leaves=4, vnis=2, tenants=1, platforms=("frr", "eos", "nxos", "junos")))
    fabric = load_fabric(write_inventory(files, tmp_path)[0].parent)
    hosts = list(fabric.hosts)
    nornir = connect_nornir(fabric, hosts, workers=1, lab=None)
    drivers = {name: host.connection_options[CONNECTION_NAME].platform for name, host in nornir.inventory.hosts.items()}
    assert {fabric.hosts[name].platform: driver for name, driver in drivers.items()} == {
        "frr": "frr", "eos": "eos", "nxos": "nxos", "junos": "junos"}


def test_platforms_without_a_napalm_driver_are_refused(tmp_path: Path) -> None:
    files = generate(GenerateOptions(leaves=2, vnis=2, tenants=1, platforms=("srlinux",)))
    fabric = load_fabric(write_inventory(files, tmp_path)[0].parent)
    with pytest.raises(VxautoError) as caught:
        connect_nornir(fabric, [name for name, host in fabric.hosts.items() if host.platform == "srlinux"], 1, None)
    assert all("no NAPALM driver deploys this platform" in problem.message for problem in caught.value.problems)
