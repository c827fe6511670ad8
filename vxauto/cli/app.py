"""The `vxauto` command line (Typer + Rich): the app that main.py runs.

Each concern owns its sub-command module (`vxauto/cli/<concern>.py`, whose `register(app)` mounts its
commands); this file only says which module holds which command. A module is imported when one of its
commands runs, so `vxauto check` does not pay for NAPALM, Nornir, numpy or pyroute2. `vxauto --help`
imports them all, to list every command with its own help line.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_group

#: A Click command as Typer builds it (Typer 0.29 builds them from its own private copy of Click).
Command = Any

#: Every top-level command, in the order `vxauto --help` lists them, and the module that registers it.
COMMANDS = {
    "check": "vxauto.cli.fabric",
    "render": "vxauto.cli.fabric",
    "docs": "vxauto.cli.fabric",
    "schema": "vxauto.cli.fabric",
    "deploy": "vxauto.cli.deploy",
    "confirm": "vxauto.cli.deploy",
    "rollback": "vxauto.cli.deploy",
    "validate": "vxauto.cli.validate",
    "fabric": "vxauto.cli.fabric",
    "lab": "vxauto.cli.lab",
    "vtep": "vxauto.cli.vtep",
    "monitor": "vxauto.cli.monitor",
}


def module_commands(module_name: str) -> dict[str, Command]:
    """Import one sub-command module and build the Click commands its `register(app)` mounts."""
    module = importlib.import_module(module_name)
    registered = typer.Typer()
    module.register(registered)
    return dict(get_group(registered).commands)


class LazyCommands(MutableMapping[str, Command]):
    """The group's commands by name: the names are known up front, a command is built when first looked up."""

    def __init__(self, modules: dict[str, str]) -> None:
        self.modules = modules
        self.loaded: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self.loaded:
            if name not in self.modules:
                raise KeyError(name)
            self.loaded.update(module_commands(self.modules[name]))
        return self.loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self.loaded.pop(name, None)
        self.modules.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self.modules), **dict.fromkeys(self.loaded)})

    def __len__(self) -> int:
        return len(set(self.modules) | set(self.loaded))


class LazyGroup(TyperGroup):
    """Typer's group with `LazyCommands`: names (for usage errors and "did you mean") without imports."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(dict(COMMANDS))


def _root() -> None:
    """Intent-driven automation, lab and visibility for VXLAN overlay fabrics."""
    # No options of its own: Typer builds a group (not a single command) only for an app with a callback,
    # and this app registers its commands lazily (LazyGroup), so it has none when the group is built.


app = typer.Typer(
    name="vxauto",
    cls=LazyGroup,
    callback=_root,
    help="Intent-driven automation, lab and visibility for VXLAN overlay fabrics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
