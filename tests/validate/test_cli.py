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
    code, output = run("-i", str(DEMO_INVENTORY), "--wait", "-1")
    assert code == 2 and "--wait" in output


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


def _closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _loopback_inventory(tmp_path: Path, port: int, **options: object) -> Path:
    """The demo inventory with every host at 127.0.0.1:`port` (never an outside address)."""
    import yaml

    inventory = tmp_path / "inventory"
    shutil.copytree(DEMO_INVENTORY, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    for host in hosts.values():
        host.update({"hostname": "127.0.0.1", "port": port, **options})
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return inventory


def test_unreachable_hosts_are_one_row_each_with_the_cause_and_the_fix(tmp_path: Path) -> None:
    inventory = _loopback_inventory(tmp_path, _closed_port())
    result = CliRunner().invoke(app, ["validate", "-i", str(inventory), "--hosts", "leaf1,h1", "--wait", "0"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    # leaf1 and h1, and the hosts whose MACs leaf1 must learn and whose segments h1's probes need
    assert "5 hosts could not be reached" in text
    assert "38 checks on 2 hosts" in text and "38 failed" in text
    assert text.count("nothing answers SSH there: check hostname and port in hosts.yaml") == 4  # the hosts
    assert "the key file is missing: set key_file in connection_options" in text  # leaf1: no key, no password
    assert text.count("not run: host unreachable (see below)") == 2


def test_unreachable_hosts_in_json_name_cause_and_fix(tmp_path: Path) -> None:
    import json

    inventory = _loopback_inventory(tmp_path, _closed_port(), password="not-used")
    result = CliRunner().invoke(app, ["validate", "-i", str(inventory), "--hosts", "spine1", "--wait", "0",
                                      "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert set(report["unreachable"]) == {"spine1"}
    assert "refused" in report["unreachable"]["spine1"]["cause"].lower() or (
        "unable to connect" in report["unreachable"]["spine1"]["cause"].lower())
    assert report["unreachable"]["spine1"]["fix"].startswith("nothing answers SSH there")
    assert report["checks"] and not any(check["passed"] for check in report["checks"])


def test_a_missing_key_file_is_bad_input_naming_host_and_field(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key"
    inventory = _loopback_inventory(tmp_path, _closed_port(), connection_options={
        "napalm": {"extras": {"optional_args": {"key_file": str(missing)}}}})
    code, output = run("-i", str(inventory), "--hosts", "leaf1", "--wait", "0")
    assert code == 2, output
    assert "Traceback" not in output
    assert "leaf1.connection_options.napalm.extras.optional_args.key_file: no such file" in output
    assert str(missing) in output and "--lab FILE" in output
