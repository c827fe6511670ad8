"""The validated fabric: intent + hosts, cross-checked, with derived per-device facts.

`load_fabric(directory)` is the one entry point: it reads the inventory, validates every field
(schema), then every relation between fields (relations.py), and derives `DeviceFacts` per host
(derive.py). All problems found are reported together, each naming file, YAML path, line and value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vxauto.errors import Problem, VxautoError
from vxauto.model.derive import VRF_TABLE_BASE, FactDerivation
from vxauto.model.loader import (
    RawInventory,
    ResolvedHost,
    load_hosts,
    read_inventory,
    resolve_hosts,
)
from vxauto.model.loader import (
    load_fabric as load_fabric_intent,
)
from vxauto.model.relations import DEFAULT_UDP_PORT, OUTER_OVERHEAD, RelationChecks
from vxauto.model.schema import FabricIntent, HostIntent


@dataclass
class Fabric(RelationChecks, FactDerivation):
    """A validated fabric. Build it with `load_fabric` (files) or `Fabric.build` (objects)."""

    # --- construction ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        intent: FabricIntent,
        hosts: list[HostIntent],
        raw: RawInventory | None = None,
        resolved: dict[str, ResolvedHost] | None = None,
    ) -> Fabric:
        fabric = cls(intent, {h.name: h for h in hosts}, raw, resolved or {})
        VxautoError.collect(fabric.problems())
        return fabric


def load_fabric(directory: Path | str) -> Fabric:
    """Read, validate and cross-check an inventory directory. Raises `VxautoError` on bad input."""
    raw = read_inventory(Path(directory))
    problems: list[Problem] = []
    intent = hosts = None
    try:
        intent = load_fabric_intent(raw)
    except VxautoError as exc:
        problems += exc.problems
    try:
        hosts = load_hosts(raw)
    except VxautoError as exc:
        problems += exc.problems
    VxautoError.collect(problems)
    assert intent is not None and hosts is not None
    resolved = {r.name: r for r in resolve_hosts(raw)}
    return Fabric.build(intent, hosts, raw, resolved)


__all__ = ["DEFAULT_UDP_PORT", "OUTER_OVERHEAD", "VRF_TABLE_BASE", "Fabric", "load_fabric"]
