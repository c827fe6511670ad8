"""Issue 15: sub-command modules are imported when their command runs, so `vxauto check` stays light."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import defaultdict

from typer.testing import CliRunner

from tests.conftest import DEMO_INVENTORY
from vxauto.cli.main import COMMANDS, app, module_commands

HEAVY = ("numpy", "pyroute2", "napalm", "netmiko")

# Runs vxauto in a fresh interpreter and prints, after the command, which HEAVY modules it had imported.
PROBE = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print(json.dumps(sorted(name for name in heavy if name in sys.modules))))
sys.argv = ["vxauto", *{argv!r}]
from vxauto.cli.main import main
main()
"""


def imported_by(*argv: str) -> tuple[int, list[str]]:
    """Exit code of `vxauto ARGV` in its own process, and the heavy modules loaded by the end of it."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, argv=list(argv))],
                          capture_output=True, text=True, check=False, timeout=120)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def test_check_imports_no_device_or_numeric_library() -> None:
    code, loaded = imported_by("check", "-i", str(DEMO_INVENTORY))
    assert code == 0
    assert loaded == []


def test_the_probe_sees_lazily_imported_libraries() -> None:
    """Positive control for the test above: the same probe, on a command that loads the lab and monitor
    modules, reports numpy and pyroute2; napalm and netmiko are installed under these names."""
    code, loaded = imported_by("--help")
    assert code == 0
    assert {"numpy", "pyroute2"} <= set(loaded)
    assert all(importlib.util.find_spec(name) is not None for name in HEAVY)


def test_each_module_registers_exactly_the_commands_mapped_to_it() -> None:
    by_module: dict[str, set[str]] = defaultdict(set)
    for name, module in COMMANDS.items():
        by_module[module].add(name)
    for module, names in by_module.items():
        assert set(module_commands(module)) == names, module


def test_help_lists_every_command_and_a_typo_gets_a_suggestion() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    # a command's row starts right after the box's edge; its wrapped help lines are indented
    listed = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ") and line[2] != " "
              and line.split()[1] in COMMANDS]
    assert listed == list(COMMANDS)
    typo = runner.invoke(app, ["chekc"])
    assert typo.exit_code == 2
    assert "Did you mean 'check'" in typo.output
