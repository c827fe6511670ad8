"""Imports flow one way: model -> render -> devices -> deploy / validate -> cli.

lab, vtep and monitor stand beside that chain: they may use model and render (and each other), and
devices, deploy, validate and the CLI may use them; they never import devices, deploy, validate or the
CLI. deploy and validate never import each other; nothing but the CLI imports the CLI. `vxauto.errors`
may be imported from anywhere and imports nothing of vxauto.

The checker reads every module with `ast` (imports inside functions count: a lazy import is still a
dependency), so the rule holds for code that a test run never executes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VXAUTO = Path(__file__).resolve().parents[1] / "vxauto"

CHAIN = ("model", "render", "devices", "deploy", "validate", "cli")
BESIDE = frozenset({"lab", "vtep", "monitor"})
#: package -> the vxauto packages it may import (itself and `errors` always).
ALLOWED: dict[str, frozenset[str]] = {
    "model": frozenset(),
    "render": frozenset({"model"}),
    "devices": frozenset({"model", "render"}) | BESIDE,
    "deploy": frozenset({"model", "render", "devices"}) | BESIDE,
    "validate": frozenset({"model", "render", "devices"}) | BESIDE,
    "cli": frozenset(CHAIN) | BESIDE,
    **{name: frozenset({"model", "render"}) | BESIDE for name in BESIDE},
    # modules directly in vxauto/: the package marker and the errors every layer raises
    "__init__": frozenset(),
    "errors": frozenset(),
}
ANYWHERE = "errors"


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Absolute names of the modules an import statement reads (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        parts = module.split(".")
        base = parts if is_package else parts[:-1]
        base = base[: len(base) - (node.level - 1)]
        stem = ".".join([*base, node.module] if node.module else base)
    else:
        stem = node.module or ""
    if stem == "vxauto":  # `from vxauto import errors` reads vxauto.errors
        return [f"vxauto.{alias.name}" for alias in node.names]
    return [stem]


def import_violations(root: Path) -> list[str]:
    """`file:line: a -> b` for every import of package b inside package a that the direction forbids.
    `root` is a `vxauto/` directory."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("").parts
        is_package = relative[-1] == "__init__"
        module = ".".join(relative[:-1] if is_package else relative)
        source = relative[1]
        allowed = ALLOWED.get(source)
        if allowed is None:
            found.append(f"{path}: package {source} has no place in the direction (add it to ALLOWED)")
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for name in _imported(node, module, is_package):
                parts = name.split(".")
                if parts[0] != "vxauto" or len(parts) < 2:
                    continue
                target = parts[1]
                if target in (source, ANYWHERE) or target in allowed:
                    continue
                found.append(f"{path.relative_to(root.parent)}:{getattr(node, 'lineno', 0)}: "
                             f"{source} -> {target} ({name})")
    return found


def test_vxauto_imports_follow_the_direction() -> None:
    assert import_violations(VXAUTO) == []


def test_every_package_has_a_place() -> None:
    packages = {path.name for path in VXAUTO.iterdir() if (path / "__init__.py").exists()}
    assert packages <= set(ALLOWED), sorted(packages - set(ALLOWED))


def _tree(root: Path, files: dict[str, str]) -> Path:
    package = root / "vxauto"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(package).parents:
            (package / parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")
    return package


ALLOWED_TREE = {
    "errors.py": "X = 1\n",
    "model/fabric.py": "from vxauto.errors import X\n",
    "render/engine.py": "from vxauto.model import fabric\n",
    "devices/access.py": "def f():\n    from vxauto.lab import api\n",
    "deploy/run.py": "from vxauto.devices import access\nfrom . import tasks\n",
    "deploy/tasks.py": "import vxauto.render.engine\n",
    "validate/run.py": "from vxauto import errors\nfrom vxauto.monitor import live\n",
    "lab/api.py": "from vxauto.vtep import engine\n",
    "cli/main.py": "from vxauto.deploy import run\nfrom vxauto.validate import run as v\n",
}


def test_a_tree_that_follows_the_direction_passes(tmp_path: Path) -> None:
    # positive control for the test below: the checker does not flag imports the direction allows
    assert import_violations(_tree(tmp_path, ALLOWED_TREE)) == []


@pytest.mark.parametrize(("name", "text", "edge"), [
    ("deploy/bad.py", "from vxauto.validate.run import x\n", "deploy -> validate"),
    ("validate/bad.py", "def f():\n    import vxauto.deploy.run\n", "validate -> deploy"),
    ("validate/sub/bad.py", "from ...deploy import run\n", "validate -> deploy"),
    ("model/bad.py", "from vxauto.render.engine import render\n", "model -> render"),
    ("devices/bad.py", "from vxauto import validate\n", "devices -> validate"),
    ("lab/bad.py", "from vxauto.devices.access import attach_lab\n", "lab -> devices"),
    ("vtep/__main__.py", "from vxauto.cli.main import main\n", "vtep -> cli"),
    ("errors.py", "from vxauto.model import fabric\n", "errors -> model"),
])
def test_an_import_against_the_direction_fails(tmp_path: Path, name: str, text: str, edge: str) -> None:
    violations = import_violations(_tree(tmp_path, {**ALLOWED_TREE, name: text}))
    assert len(violations) == 1 and edge in violations[0], violations
    assert violations[0].startswith(f"vxauto/{name}:")


def test_a_package_without_a_place_fails(tmp_path: Path) -> None:
    violations = import_violations(_tree(tmp_path, {**ALLOWED_TREE, "newthing/x.py": "X = 1\n"}))
    assert any("package newthing has no place" in v for v in violations), violations
