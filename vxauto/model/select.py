"""Host selection shared by every multi-host command (`--hosts/--groups/--role/--platform`)."""

from __future__ import annotations

from collections.abc import Sequence

from vxauto.errors import Problem, VxautoError
from vxauto.model.fabric import Fabric
from vxauto.model.platforms import PLATFORMS


def _split(values: Sequence[str] | None) -> list[str]:
    """Accept both repeated options and comma lists: `--hosts a,b --hosts c`."""
    return [item.strip() for value in values or () for item in value.split(",") if item.strip()]


def select_hosts(
    fabric: Fabric,
    hosts: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    roles: Sequence[str] | None = None,
    platforms: Sequence[str] | None = None,
) -> list[str]:
    """Hosts matching every given filter (filters of one kind are OR-ed), in inventory order.

    Unknown names are errors: a typo in `--hosts` must not silently select nothing.
    """
    wanted_hosts, wanted_groups = _split(hosts), _split(groups)
    wanted_roles, wanted_platforms = _split(roles), _split(platforms)
    problems = [Problem("command line", "--hosts", "unknown host", h) for h in wanted_hosts if h not in fabric.hosts]
    problems += [
        Problem("command line", "--groups", "unknown group", g)
        for g in wanted_groups
        if g not in fabric.group_members
    ]
    problems += [
        Problem("command line", "--role", "unknown role (leaf, spine, host)", r)
        for r in wanted_roles
        if r not in ("leaf", "spine", "host")
    ]
    problems += [
        Problem("command line", "--platform", f"unknown platform ({', '.join(PLATFORMS)})", p)
        for p in wanted_platforms
        if p not in PLATFORMS
    ]
    VxautoError.collect(problems)
    in_groups = {h for g in wanted_groups for h in fabric.group_members[g]}
    return [
        name
        for name, host in fabric.hosts.items()
        if (not wanted_hosts or name in wanted_hosts)
        and (not wanted_groups or name in in_groups)
        and (not wanted_roles or host.data.role in wanted_roles)
        and (not wanted_platforms or host.platform in wanted_platforms)
    ]
