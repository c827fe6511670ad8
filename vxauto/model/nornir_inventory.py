"""A Nornir inventory plugin over a vxauto inventory directory.

It reads the same `hosts.yaml`/`groups.yaml`/`defaults.yaml` as Nornir's SimpleInventory, but through
vxauto's validating loader, so a Nornir run never starts on an intent that `vxauto check` rejects.
Registered as entry point `VxautoInventory`:

    InitNornir(inventory={"plugin": "VxautoInventory", "options": {"directory": "inventory"}})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nornir.core import Nornir
from nornir.core.inventory import (
    ConnectionOptions,
    Defaults,
    Group,
    Groups,
    Host,
    Hosts,
    Inventory,
    ParentGroups,
)
from nornir.plugins.runners import SerialRunner, ThreadedRunner

from vxauto.model.fabric import Fabric, load_fabric


def _connection_options(data: dict[str, Any]) -> dict[str, ConnectionOptions]:
    return {
        name: ConnectionOptions(
            hostname=options.get("hostname"),
            port=options.get("port"),
            username=options.get("username"),
            password=options.get("password"),
            platform=options.get("platform"),
            extras=options.get("extras"),
        )
        for name, options in (data.get("connection_options") or {}).items()
    }


def _common(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "hostname": entry.get("hostname"),
        "port": entry.get("port"),
        "username": entry.get("username"),
        "password": entry.get("password"),
        "platform": entry.get("platform"),
        "data": entry.get("data") or {},
        "connection_options": _connection_options(entry),
    }


def build_inventory(fabric: Fabric) -> Inventory:
    """Nornir Inventory from an already validated fabric (no second read of the files)."""
    raw = fabric.raw
    if raw is None:
        raise ValueError("the fabric was not loaded from an inventory directory")
    defaults_data = raw.defaults.data or {}
    defaults = Defaults(**_common(defaults_data))
    groups_data: dict[str, Any] = raw.groups.data or {}
    groups = Groups({name: Group(name=name, defaults=defaults, **_common(entry or {}))
                     for name, entry in groups_data.items()})
    for name, entry in groups_data.items():
        groups[name].groups = ParentGroups([groups[g] for g in (entry or {}).get("groups") or []])
    hosts = Hosts()
    for name, written in (raw.hosts.data or {}).items():
        entry = written or {}
        hosts[name] = Host(
            name=name,
            groups=ParentGroups([groups[g] for g in entry.get("groups") or []]),
            defaults=defaults,
            **_common(entry),
        )
    return Inventory(hosts=hosts, groups=groups, defaults=defaults)


class VxautoInventory:
    """Nornir inventory plugin: `options: {directory: inventory}`."""

    def __init__(self, directory: str = "inventory") -> None:
        self.directory = Path(directory)

    def load(self) -> Inventory:
        return build_inventory(load_fabric(self.directory))


def nornir_for(fabric: Fabric, workers: int = 1) -> Nornir:
    """A Nornir object over a validated fabric (no config file needed)."""
    runner: Any = SerialRunner() if workers <= 1 else ThreadedRunner(num_workers=workers)
    return Nornir(inventory=build_inventory(fabric), runner=runner)

