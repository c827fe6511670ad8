"""Issue 14: every shell command the documentation shows runs, as written.

Every ```sh block of README.md and docs/*.md is run line by line from the repository root, with .venv/bin
first on PATH (as the README says: "use .venv/bin/..., or activate .venv"), in document order. A block is
a sequence a reader types: it brings its own lab up and takes it down. Synopses with placeholders (FILE,
`...`, `[--json]`) are ```text blocks and are not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.lab.conftest import force_down, needs_lab_machine

BIN = Path(sys.executable).parent
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
# Labs the documented commands bring up; taken down by force if a command fails half-way.
LABS = [REPO / "containerlab" / "evpn-frr.clab.yml"]

# Commands that do not run here by design, with the reason (each must still appear in the documents).
NOT_RUN = {
    "scripts/test.sh     # the whole test suite (what CI runs)": "it is CI itself (.ci/run), which runs this test",
    "scripts/demo.sh     # main job on the default lab: check, render, docs, lab up, deploy, validate, lab down":
        "CI (.ci/run) runs it three times in a row right after the test suite, each run must be green",
    **dict.fromkeys(ANSIBLE_BLOCK := (
        "ansible-playbook playbooks/lab.yml                   # the default lab up",
        "ansible-playbook playbooks/site.yml --check --diff   # diffs of render and deploy, validate's plan; "
        "nothing changes",
        "ansible-playbook playbooks/site.yml                  # render -> deploy -> validate",
        "ansible-playbook playbooks/site.yml                  # again: changed=0",
        "ansible-playbook playbooks/lab.yml -e lab_state=absent",
    ), "tests/ansible/test_playbooks.py runs these playbooks in this order on the lab and checks each recap "
       "(check mode changes nothing, the first apply changes, the second changes nothing)"),
}
# Documented outcomes other than exit 0 on a machine without Docker.
NO_DOCKER_EXIT = {
    "vxauto lab up containerlab/evpn-ceos.clab.yml               # = containerlab deploy -t "
    "containerlab/evpn-ceos.clab.yml": 2,  # docs/lab.md: the netns runtime refuses vendor kinds (exit 2)
}

VTYSH_REJECTS = ("% Command incomplete", "% Unknown command")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    commands: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"


def shell_blocks() -> list[Block]:
    blocks = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match[1] not in ("sh", "bash", "shell", "console"):
                continue
            commands = tuple(line for line in match[2].splitlines() if line.strip() and not line.startswith("#"))
            blocks.append(Block(document, text[: match.start()].count("\n") + 1, commands))
    return blocks


def docker_answers() -> bool:
    docker = shutil.which("docker")
    return docker is not None and shutil.which("containerlab") is not None and subprocess.run(
        [docker, "info"], capture_output=True, timeout=15, check=False).returncode == 0


def test_the_documents_have_shell_blocks_and_the_exceptions_exist() -> None:
    """Positive control for the test below: it finds the blocks, and every exception names a real line."""
    blocks = shell_blocks()
    assert len(blocks) >= 5, [b.name for b in blocks]
    documented = {command for block in blocks for command in block.commands}
    assert set(NOT_RUN) <= documented and set(NO_DOCKER_EXIT) <= documented
    # the fixed claims stay fixed: ssh quotes vtysh's argument twice
    assert any("\"vtysh -c 'show bgp summary'\"" in command for command in documented)


@pytest.fixture
def labs_cleaned_up() -> Iterator[None]:
    """A command that fails half-way leaves its lab up: take down the labs of these files (brought up by the
    `vxauto` processes this test started, so recorded with their PIDs)."""
    yield
    from vxauto.lab.state import LabState
    from vxauto.lab.topology import load_topology

    for topology in LABS:
        recorded = LabState.load(load_topology(topology).name)
        if recorded is not None and recorded.topology == str(topology.resolve()):
            force_down(topology, recorded.owner_pid)


def _run(command: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    environment |= {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_NOCOLOR": "1", "KEEP_LAB": "0"}
    return subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, env=environment,
                          timeout=900, check=False)


@pytest.mark.lab
@pytest.mark.slow
@needs_lab_machine
def test_documented_shell_commands_run_as_written(labs_cleaned_up: None) -> None:
    docker = docker_answers()
    failures: list[str] = []
    ran = 0
    for block in shell_blocks():
        for command in block.commands:
            if command in NOT_RUN:
                continue
            expected = 0 if docker else NO_DOCKER_EXIT.get(command, 0)
            result = _run(command)
            ran += 1
            # vtysh reports a mangled command on stdout; ssh's exit code alone need not show it
            mangled = any(sign in result.stdout for sign in VTYSH_REJECTS)
            if result.returncode != expected or mangled:
                output = (result.stdout + result.stderr)[-2500:]
                failures.append(f"{block.name}: `{command}` exited {result.returncode}, expected {expected}:\n"
                                f"{output}")
                break  # the rest of the block depends on this command
    assert not failures, "\n\n".join(failures)
    assert ran >= 20
