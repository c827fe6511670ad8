"""The vendors' own configuration parsers (Ansible resource modules, `state: parsed`), run offline.

They come from the `ansible` package on PyPI (arista.eos, cisco.nxos, junipernetworks.junos ...), kept in a venv
of their own apart from the project's pinned ansible-core: /tmp/ansible-parsers-venv, created on first use.
`state: parsed` turns configuration text into the module's structured data without opening any connection
(/work/shared/peer-validators.md). One ansible-playbook run parses several texts; the json callback hands the
results back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VENV = Path(os.environ.get("VXAUTO_ANSIBLE_PARSERS_VENV", "/tmp/ansible-parsers-venv"))
ANSIBLE = "ansible>=11,<12"


@dataclass(frozen=True)
class ParseJob:
    name: str
    module: str  # e.g. cisco.nxos.nxos_bgp_address_family
    network_os: str  # e.g. cisco.nxos.nxos
    config: str


def parsers_venv() -> tuple[Path | None, str]:
    """The venv's ansible-playbook, created if absent; (None, why) when it cannot be had."""
    playbook = VENV / "bin" / "ansible-playbook"
    if playbook.exists():
        return playbook, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=120)
        install = subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", ANSIBLE], check=False,
                                 capture_output=True,
                                 text=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as error:
        return None, f"cannot create {VENV}: {error}"
    if install.returncode != 0 or not playbook.exists():
        return None, f"pip install {ANSIBLE!r} into {VENV} failed: {install.stderr.strip()[-300:]}"
    return playbook, ""


def run_parsers(playbook: Path, jobs: list[ParseJob], work: Path) -> dict[str, object]:
    """Parse every job's config with its module; job name -> the module's `parsed` result."""
    work.mkdir(parents=True, exist_ok=True)
    hosts, tasks = [], []
    for index, job in enumerate(jobs):
        config = work / f"config-{index}.txt"
        config.write_text(job.config, encoding="utf-8")
        host = f"job{index}"
        hosts.append(f"{host} ansible_connection=ansible.netcommon.network_cli ansible_network_os={job.network_os}")
        tasks.append({"name": job.name, "when": f"inventory_hostname == '{host}'",
                      job.module: {"running_config": "{{ lookup('file', '" + str(config) + "') }}", "state": "parsed"}})
    (work / "inventory.ini").write_text("\n".join(hosts) + "\n")
    play = [{"hosts": "all", "gather_facts": False, "tasks": tasks}]
    (work / "parse.yml").write_text(json.dumps(play))
    # a configuration of its own: nothing from the project's ansible.cfg or the user's
    (work / "ansible.cfg").write_text("[defaults]\nstdout_callback = ansible.posix.json\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
    result = subprocess.run([str(playbook), "-i", str(work / "inventory.ini"), str(work / "parse.yml")],
                            check=False, capture_output=True, text=True, env=env, cwd=work, timeout=600)
    if "{" not in result.stdout:
        raise AssertionError(f"ansible-playbook failed (exit {result.returncode}): {result.stderr.strip()[-600:]}")
    report = json.loads(result.stdout[result.stdout.index("{"):])
    parsed: dict[str, object] = {}
    for task in report["plays"][0]["tasks"]:
        for host, outcome in task["hosts"].items():
            if outcome.get("skipped"):
                continue
            if outcome.get("failed"):
                raise AssertionError(f"{task['task']['name']} ({host}): {outcome.get('msg')}")
            parsed[task["task"]["name"]] = outcome.get("parsed")
    return parsed
