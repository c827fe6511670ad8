"""`vxauto deploy` / `vxauto rollback` without a device: bad input is refused before anything connects,
and every host gets the NAPALM driver of its platform."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.deploy.conftest import TOPOLOGY
from vxauto.cli.main import app
from vxauto.deploy.run import connect_nornir
from vxauto.devices.nornir_connection import CONNECTION_NAME
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


def test_each_platform_gets_its_napalm_driver(tmp_path: Path, login_files: tuple[Path, Path]) -> None:
    files = generate(GenerateOptions(leaves=4, vnis=2, tenants=1, platforms=("frr", "eos", "nxos", "junos")))
    directory = write_inventory(files, tmp_path / "generated")[0].parent
    defaults = directory / "defaults.yaml"  # the frr hosts need a login to be connectable
    data = yaml.safe_load(defaults.read_text()) | yaml.safe_load(login_defaults(*login_files))
    defaults.write_text(yaml.safe_dump(data))
    fabric = load_fabric(directory)
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


# --------------------------------------------------------------------------- errors people hit, without a lab


def inventory_with(work: Path, demo_inventory: Path, leaf1_lines: str = "", defaults: str = "") -> Path:
    """A copy of the demo inventory; `leaf1_lines` go under leaf1 (indented), `defaults` into defaults.yaml."""
    copy = work / "changed-inventory"
    shutil.copytree(demo_inventory, copy)
    hosts = copy / "hosts.yaml"
    indented = "".join(f"  {line}\n" for line in leaf1_lines.splitlines())
    hosts.write_text(hosts.read_text().replace("leaf1:\n  hostname: 172.20.20.21\n", f"leaf1:\n{indented}", 1))
    if defaults:
        with (copy / "defaults.yaml").open("a") as file:
            file.write(defaults)
    return copy


@pytest.fixture
def login_files(tmp_path: Path) -> tuple[Path, Path]:
    """A real SSH key and an (empty) known_hosts file."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text("")
    return key, known


def login_defaults(key: Path | str, known: Path) -> str:
    return ("connection_options:\n  napalm:\n    extras:\n      optional_args: "
            f"{{key_file: {key}, known_hosts: {known}, conn_timeout: 5}}\n")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that refuses connections: bound (so nobody else takes it), never listening."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def run_split(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(arguments))
    return result.exit_code, result.stdout, result.stderr


def test_deploy_without_any_login_is_bad_input_naming_the_fix(demo_inventory: Path) -> None:
    code, output = run("deploy", "-i", str(demo_inventory), "--commit", "--hosts", "leaf1")
    assert code == 2, output
    assert "leaf1.connection_options" in output and "pass --lab FILE, or set key_file" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", ["deploy", "rollback"])
def test_a_missing_key_file_is_bad_input(
    demo_inventory: Path, tmp_path: Path, login_files: tuple[Path, Path], command: str
) -> None:
    _, known = login_files
    missing = tmp_path / "no-such-key"
    inventory = inventory_with(tmp_path, demo_inventory, "hostname: 172.20.20.21",
                               login_defaults(missing, known))
    arguments = ["deploy", "--commit", "--hosts", "leaf1"] if command == "deploy" else ["rollback", "leaf1"]
    code, output = run(*arguments, "-i", str(inventory))
    assert code == 2, output
    assert "optional_args.key_file" in output and str(missing) in output and "no such file" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", ["deploy", "rollback"])
def test_an_unreachable_host_is_one_row_naming_cause_and_fix(
    demo_inventory: Path, tmp_path: Path, login_files: tuple[Path, Path], closed_port: int, command: str
) -> None:
    key, known = login_files
    inventory = inventory_with(tmp_path, demo_inventory, f"hostname: 127.0.0.1\nport: {closed_port}",
                               login_defaults(key, known))
    arguments = ["deploy", "--commit", "--hosts", "leaf1"] if command == "deploy" else ["rollback", "leaf1"]
    code, stdout, stderr = run_split(*arguments, "-i", str(inventory), "--json")
    assert code == 1, stdout + stderr
    rows = json.loads(stdout)["hosts"]
    assert [(row["host"], row["status"]) for row in rows] == [("leaf1", "failed")]
    assert rows[0]["error"] == (f"127.0.0.1: unreachable: cannot connect to 127.0.0.1:{closed_port} (Connection "
                                "refused): check the address, the port and that sshd runs")
    assert stderr == ""  # no traceback, no library log lines


def test_confirm_later_needs_a_commit_confirm(demo_inventory: Path) -> None:
    code, output = run("deploy", "-i", str(demo_inventory), "--commit", "--confirm-later")
    assert code == 2 and "--confirm-later" in output and "--confirm-timeout" in output


def test_wait_needs_a_commit(demo_inventory: Path) -> None:
    code, output = run("deploy", "-i", str(demo_inventory), "--wait", "5")
    assert code == 2 and "--wait" in output and "needs --commit" in output
