"""The FRR side of a Linux/FRR VTEP's configuration: FRR's own reload tool decides what changes.

`frr-reload.py` (Debian's frr package, /usr/lib/frr) is what `systemctl reload frr` runs: it parses the
candidate and `show running-config` with vtysh's own parser, computes the lines to delete and to add
within their contexts, and applies exactly those (`--reload`). `--test` prints the same deltas. The driver
runs `--test` for `compare_config` and for post-commit verification, and `--reload` to apply, so FRR's
semantics decide what a change is, not a text diff of two differently ordered configurations.

Two normalisations make an unchanged intent compare equal to its running configuration:
- `frr version` is dropped from the candidate (the running config names the installed 8.4.x release).
- Lines that merely restate a default are dropped, because FRR never prints them
  (`no bgp ebgp-requires-policy` under `frr defaults datacenter`, `neighbor X attribute-unchanged
  next-hop` in the EVPN address family); without this, frr-reload would re-add them on every run and a
  second deploy would never be a no-op. `DEFAULT_LINES` lists them (checked against FRR 8.4 in
  tests/deploy/test_driver_lab.py).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

FRR_RELOAD = "/usr/lib/frr/frr-reload.py"

@dataclass(frozen=True)
class DefaultLine:
    """A configuration line FRR applies but never prints, because it restates a default."""

    block: str  # "router bgp" or "router bgp/address-family l2vpn evpn"
    pattern: re.Pattern[str]
    profiles: frozenset[str] | None  # the `frr defaults` profiles it is the default in; None: all
    example: str  # one concrete line it matches (what the lab test applies to a real FRR)


def _literal(block: str, line: str, profiles: frozenset[str] | None) -> DefaultLine:
    return DefaultLine(block, re.compile(re.escape(line) + "$"), profiles, line)


_DATACENTER = frozenset({"datacenter"})

#: Checked against FRR 8.4 in tests/deploy/test_driver_lab.py (each example is applied, then must not show).
DEFAULT_LINES: tuple[DefaultLine, ...] = (
    # bgpd/bgp_vty.c FRR_CFG_DEFAULT_* entries with `.match_profile = "datacenter"`
    *(_literal("router bgp", line, _DATACENTER) for line in (
        "no bgp ebgp-requires-policy", "bgp log-neighbor-changes", "bgp deterministic-med",
        "bgp default show-hostname", "bgp default show-nexthop-hostname", "timers bgp 3 9",
        "bgp suppress-duplicates")),
    # EVPN keeps the next hop towards every peer anyway (`unchangedNextHopPropogatedToNbr` is true
    # without it), so FRR does not print it
    DefaultLine("router bgp/address-family l2vpn evpn", re.compile(r"neighbor \S+ attribute-unchanged next-hop$"),
                None, "neighbor 10.1.1.1 attribute-unchanged next-hop"),
)
#: FRR's compiled-in profile when a configuration has no `frr defaults` line.
DEFAULT_PROFILE = "traditional"

_RUNNING_NOISE = frozenset({"Building configuration...", "Current configuration:", "end"})


def normalise_candidate(text: str) -> str:
    """The candidate as frr-reload should compare it (see the module docstring)."""
    profile = DEFAULT_PROFILE
    for line in text.splitlines():
        match = re.match(r"^frr defaults (\S+)\s*$", line)
        if match:
            profile = match.group(1)
    defaults = [item for item in DEFAULT_LINES if item.profiles is None or profile in item.profiles]
    kept = []
    top, family = "", ""
    for line in text.splitlines():
        stripped = line.strip()
        if line and not line[0].isspace():
            top, family = " ".join(line.split()[:2]), ""
        elif line.startswith(" address-family "):
            family = stripped
        elif stripped == "exit-address-family":
            family = ""
        if line.startswith("frr version "):
            continue
        block = f"{top}/{family}" if family else top
        depth = len(line) - len(line.lstrip(" "))
        expected_depth = 2 if family else 1
        if depth == expected_depth and any(item.block == block and item.pattern.match(stripped) for item in defaults):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def running_text(show_running: str) -> str:
    """`show running-config` as a configuration file (without vtysh's banner and `end`)."""
    lines = [line for line in show_running.splitlines() if line.strip() not in _RUNNING_NOISE]
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip("\n") + "\n"


@dataclass(frozen=True)
class Change:
    """One configuration line frr-reload would delete or add, inside its context."""

    context: tuple[str, ...]
    line: str

    def shown(self) -> str:
        return " " * len(self.context) + self.line


@dataclass
class FrrDelta:
    """What `frr-reload.py --test` reports: config lines to delete and to add."""

    deletions: list[Change] = field(default_factory=list)
    additions: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.deletions or self.additions)

    def only_additions(self) -> FrrDelta:
        """Merge semantics: nothing is removed."""
        return FrrDelta([], list(self.additions))

    def unified(self, host: str) -> str:
        """The delta as a unified diff with one hunk per context (`@@ router bgp 1 / address-family ... @@`)."""
        if not self:
            return ""
        hunks: dict[tuple[str, ...], list[str]] = {}
        for sign, changes in (("-", self.deletions), ("+", self.additions)):
            for change in changes:
                hunks.setdefault(change.context, []).append(f"{sign}{change.shown()}")
        out = [f"--- {host} frr.conf (running)", f"+++ {host} frr.conf (candidate)"]
        for context, lines in hunks.items():
            out.append(f"@@ {' / '.join(context) or '(top level)'} @@")
            out += lines
        return "\n".join(out) + "\n"


def parse_reload_test(output: str) -> FrrDelta:
    """Parse the stdout of `frr-reload.py --test`.

    Each entry is printed as its context lines (indented one space per level) followed by the command;
    deletions are printed as the command that removes the line (`no X`, or `X` for a `no X` line), which
    is inverted here to the configuration line that goes away.
    """
    delta = FrrDelta()
    section: list[Change] | None = None
    entry: list[str] = []

    def flush() -> None:
        if entry and section is not None:
            section.append(_change(entry, deleting=section is delta.deletions))
        entry.clear()

    for line in output.splitlines():
        stripped = line.strip()
        if stripped in ("Lines To Delete", "Lines To Add"):
            flush()
            section = delta.deletions if stripped == "Lines To Delete" else delta.additions
            continue
        if not stripped or set(stripped) == {"="}:
            continue
        if section is None:
            continue  # nothing before the first header belongs to the delta
        if not line[0].isspace():
            flush()
        entry.append(line.rstrip())
    flush()
    return delta


def _change(entry: list[str], deleting: bool) -> Change:
    context = tuple(line.strip() for line in entry[:-1])
    command = entry[-1].strip()
    if deleting:
        command = command[3:] if command.startswith("no ") else f"no {command}"
    return Change(context, command)


def reload_command(candidate_path: str, pathspace: str | None, mode: str, frr_reload: str = FRR_RELOAD) -> str:
    """`frr-reload.py --test|--reload [--pathspace P] FILE` as one shell word list."""
    words = [frr_reload, f"--{mode}"]
    if mode == "reload":
        words.append("--stdout")  # log to the command's output, not /var/log/frr (shared by lab nodes)
    if pathspace:
        words += ["--pathspace", pathspace]
    words.append(candidate_path)
    return " ".join(_quote(words))


def vtysh_command(pathspace: str | None, *commands: str) -> str:
    words = ["vtysh"]
    if pathspace:
        words += ["-N", pathspace]
    for command in commands:
        words += ["-c", command]
    return " ".join(_quote(words))


def _quote(words: Iterable[str]) -> list[str]:
    return [shlex.quote(word) for word in words]
