"""Issue 9 CLI polish: the Nornir progress processor, and the users' CI workflow example."""

from __future__ import annotations

import io

import yaml
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from tests.conftest import DEMO_INVENTORY, REPO
from vxauto.cli.main import app
from vxauto.cli.progress import ProgressBar
from vxauto.model import load_fabric
from vxauto.model.nornir_inventory import nornir_for
from vxauto.render.tasks import render_config


def test_progress_bar_advances_once_per_host() -> None:
    fabric = load_fabric(DEMO_INVENTORY)
    progress = Progress(console=Console(file=io.StringIO()))
    bar = ProgressBar(progress, "rendering")
    with progress:
        nornir_for(fabric, workers=4).with_processors([bar]).run(task=render_config, fabric=fabric)
    task = progress.tasks[0]
    assert task.total == len(fabric.hosts) and task.completed == len(fabric.hosts)
    assert task.description == "rendering: done"


def test_ci_workflow_example_runs_real_vxauto_commands() -> None:
    workflow = yaml.safe_load((REPO / "docs/ci/vxauto-lab.yml").read_text())
    steps = workflow["jobs"]["lab"]["steps"]
    commands = [line.split("vxauto ", 1)[1].split()
                for step in steps for line in step.get("run", "").splitlines() if "bin/vxauto " in line]
    assert [c[0] for c in commands][:2] == ["check", "lab"]
    assert any(c[:1] == ["validate"] and "--junit" in c for c in commands)
    runner = CliRunner()
    for command in commands:  # every sub-command and option the example uses exists
        path = [word for word in command if not word.startswith("-")][:2]
        help_args = [*path, "--help"] if path[0] == "lab" else [path[0], "--help"]
        result = runner.invoke(app, help_args)
        assert result.exit_code == 0, help_args
        for option in (word for word in command if word.startswith("--")):
            assert option in result.output, (command, option)
