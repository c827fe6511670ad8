"""Issue 14: the vxauto.fabric collection passes Ansible's own validators.

`ansible-doc` must render every module and the inventory plugin (what a user sees), and
`ansible-test sanity --python 3.11 --requirements` must pass every sanity test that applies to the
collection (validate-modules, pylint, yamllint, ansible-doc, import, pep8, ...).

ansible-test builds one venv per sanity test and bootstraps pip in each from `get-pip.py`, which it
downloads from a host this project's machines cannot reach. It first looks for a cached copy under
`$HOME/.ansible/test/cache/`; the test writes a stand-in there (pip from the standard library's
ensurepip, then the pinned pip from PyPI) into a HOME of its own, so nothing outside the checkout changes.
That HOME lives in .venv/ and is kept between runs: the venvs are built once (a few minutes), later runs
reuse them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent
COLLECTION = REPO / "ansible_collections" / "vxauto" / "fabric"
MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py"))
SANITY_HOME = REPO / ".venv" / "ansible-test-home"

# The stand-in for get-pip.py (see /work/shared/peer-validators.md): ensurepip, then what ansible-test asked for.
GET_PIP_STAND_IN = '''\
import subprocess, sys
args = sys.argv[1:]
no_setuptools = "--no-setuptools" in args
args = [a for a in args if a not in ("--no-setuptools", "--no-wheel", "--no-pip")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
rc = subprocess.call([sys.executable, "-m", "pip", "install", *args])
if rc == 0 and no_setuptools:
    rc = subprocess.call([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "setuptools"])
sys.exit(rc)
'''


def _environment(home: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    if home is not None:
        env["HOME"] = str(home)
    return env


def _rendered(plugin_type: str, name: str) -> dict:
    """What ansible-doc shows a user, as ansible-doc parsed it (`--json`); fails on any ansible-doc error."""
    result = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", plugin_type, name],
                            capture_output=True, text=True, env=_environment(), timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "[ERROR]" not in result.stderr and "[WARNING]" not in result.stderr, result.stderr
    return json.loads(result.stdout)[name]


def _all_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_the_module(module: str) -> None:
    doc = _rendered("module", f"vxauto.fabric.{module}")
    assert doc["doc"]["module"] == module and doc["doc"]["short_description"]
    # every description paragraph is text (a plain YAML item containing ": " would be a mapping)
    assert _all_strings(doc["doc"]["description"]), doc["doc"]["description"]
    for attribute in ("check_mode", "diff_mode"):
        assert doc["doc"]["attributes"][attribute]["description"], attribute
    assert doc["examples"].strip() and doc["return"]


def test_ansible_doc_renders_the_inventory_plugin() -> None:
    doc = _rendered("inventory", "vxauto.fabric.vxauto")["doc"]
    assert doc["name"] == "vxauto" and _all_strings(doc["description"])
    assert {"plugin", "directory", "lab"} <= set(doc["options"])


def _pinned_pip_version() -> str:
    """The pip version ansible-test bootstraps into its venvs (the name of the cached get-pip it looks for)."""
    code = ("import types; from ansible_test._internal.python_requirements import get_venv_packages; "
            "print(get_venv_packages(types.SimpleNamespace(version='3.11'))['pip'])")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
def test_ansible_test_sanity_passes() -> None:
    cache = SANITY_HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"get_pip_{_pinned_pip_version().replace('.', '_')}.py").write_text(GET_PIP_STAND_IN, encoding="utf-8")
    result = subprocess.run(
        [str(BIN / "ansible-test"), "sanity", "--python", "3.11", "--requirements", "--color", "no"],
        cwd=COLLECTION, capture_output=True, text=True, env=_environment(SANITY_HOME), timeout=1200, check=False,
    )
    output = result.stdout + result.stderr
    ran = re.findall(r'^Running sanity test "([^"]+)"', output, re.M)
    assert result.returncode == 0, "\n".join(line for line in output.splitlines() if "ERROR" in line)[-6000:]
    # the validators that failed before issue 14 must have run, not been skipped
    assert {"ansible-doc", "pylint", "validate-modules", "yamllint", "import", "pep8"} <= set(ran), ran
