"""`vxauto lab netem` and `vxauto lab move` on the command line, without a lab: bad flags are bad input
(exit 2, naming the flag and value), and with containerlab and Docker the commands hand over to
`containerlab tools netem` (the argv is checked, not run: there is no Docker here)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from vxauto.cli import lab_mobility
from vxauto.cli.main import app

TOPOLOGY = str(REPO / "containerlab" / "multisite.clab.yml")


def run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(arguments))
    return result.exit_code, result.output


@pytest.mark.parametrize(("flags", "named"), [
    (["--delay", "ten"], "--delay: must be a duration"),
    (["--loss", "150"], "--loss: must be a percentage between 0 and 100"),
    (["--jitter", "2ms"], "--jitter: jitter needs a delay"),
])
def test_bad_netem_flags_exit_2_naming_flag_and_value(flags: list[str], named: str) -> None:
    code, output = run("lab", "netem", "set", TOPOLOGY, "-n", "spine1", "-i", "eth3", *flags)
    assert code == 2, output
    assert named in " ".join(output.split()) and "Traceback" not in output


@pytest.fixture
def with_containerlab(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """containerlab and Docker 'present': the runtime choice says containerlab; commands are recorded."""
    calls: list[list[str]] = []

    def record(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(lab_mobility, "_runtime_containerlab", lambda _: object())
    monkeypatch.setattr(lab_mobility.subprocess, "run", record)
    return calls


def test_netem_hands_over_to_containerlab(with_containerlab: list[list[str]]) -> None:
    code, output = run("lab", "netem", "set", TOPOLOGY, "-n", "spine1", "-i", "eth3", "--delay", "20ms",
                       "--jitter", "2ms", "--loss", "1", "--rate", "5000")
    assert code == 0, output
    code, _ = run("lab", "netem", "reset", TOPOLOGY, "-n", "spine2", "-i", "eth3")
    assert code == 0
    code, _ = run("lab", "netem", "show", TOPOLOGY, "-n", "spine1", "--json")
    assert code == 0
    assert with_containerlab == [
        ["containerlab", "tools", "netem", "set", "-n", "clab-multisite-spine1", "-i", "eth3", "--delay", "20ms",
         "--jitter", "2ms", "--loss", "1", "--rate", "5000"],
        ["containerlab", "tools", "netem", "reset", "-n", "clab-multisite-spine2", "-i", "eth3"],
        ["containerlab", "tools", "netem", "show", "-n", "clab-multisite-spine1", "--format", "json"],
    ]


def test_declared_impairments_follow_containerlab_deploy(with_containerlab: list[list[str]]) -> None:
    from vxauto.lab.topology import load_topology

    assert lab_mobility.declared_handover(load_topology(TOPOLOGY)) == 0
    assert [call[5] for call in with_containerlab] == ["clab-multisite-spine1", "clab-multisite-spine2"]
    assert all(call[-2:] == ["--delay", "10ms"] for call in with_containerlab)


def test_move_says_it_needs_the_netns_runtime(with_containerlab: list[list[str]]) -> None:
    code, output = run("lab", "move", TOPOLOGY, "vm1", "--to", "hv3")
    assert code == 1 and "needs the netns runtime" in output, output
    assert with_containerlab == []
