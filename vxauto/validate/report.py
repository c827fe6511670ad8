"""Validation reports: a Rich table for people, JSON for programs, JUnit XML for CI.

JSON: `{"passed": bool, "converged_s", "median_check_s", "worst_check_s", "rounds", "wait_s",
"checks": [{"host", "check", "expected", "actual", "passed", "first_passed_s", "flapping"}]}`.
JUnit: one `<testsuite>` per host, one `<testcase>` per check (classname `<host>.<kind>`, `time` = the
seconds until the check first passed, or the whole run for a check that never did), a `<failure>`
carrying expected and actual for every failed check, and `flapping` in `<system-out>` where it applies.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vxauto.devices.access import connection_fix
from vxauto.validate.checks import Check
from vxauto.validate.convergence import ValidationRun


def run_facts(run: ValidationRun) -> dict[str, object]:
    """What a run says beyond its checks: how long it took to converge, in how many rounds, the deadline,
    and the hosts it could not reach (with the cause and the fix)."""
    return {**run.convergence(), "rounds": run.rounds, "wait_s": run.wait_s,
            "seconds": round(run.timings.get("total", 0.0), 3),
            "unreachable": {host: {"cause": cause, "fix": connection_fix(cause)}
                            for host, cause in run.unreachable.items()}}


def unreachable_table(unreachable: Mapping[str, Mapping[str, str]]) -> Table:
    """One row per host that could not be reached: its checks failed for that reason alone."""
    table = Table(title=f"{len(unreachable)} hosts could not be reached (their checks failed for that reason)",
                  title_justify="left")
    for column in ("host", "cause", "fix"):
        table.add_column(column, overflow="fold")
    for host, row in unreachable.items():
        table.add_row(host, Text(row["cause"], style="red"), row["fix"])
    return table


def report_json(checks: Sequence[Check], run_facts: Mapping[str, object] | None = None) -> dict[str, object]:
    """The report as data; `run_facts` (convergence times, rounds, wait) go beside `passed`."""
    return {
        "passed": bool(checks) and all(check.passed for check in checks),
        **(run_facts or {}),
        "checks": [check.as_dict() for check in checks],
    }


def summary_line(checks: Sequence[Check], seconds: float | None = None,
                 run_facts: Mapping[str, object] | None = None) -> str:
    failed = sum(not check.passed for check in checks)
    hosts = len({check.host for check in checks})
    timing = f" in {seconds:.1f} s" if seconds is not None else ""
    verdict = "all passed" if not failed and checks else f"{failed} failed"
    return f"{len(checks)} checks on {hosts} hosts{timing}: {verdict}{_convergence_text(checks, run_facts)}"


def _convergence_text(checks: Sequence[Check], facts: Mapping[str, object] | None) -> str:
    if not facts:
        return ""
    parts = []
    converged, wait = facts.get("converged_s"), facts.get("wait_s")
    if converged is not None:
        parts.append(f"converged after {converged:.1f} s")
    elif wait:
        parts.append(f"not converged within --wait {wait} s")
    if facts.get("median_check_s") is not None:
        parts.append(f"per check median {facts['median_check_s']:.1f} s, worst {facts['worst_check_s']:.1f} s")
    if facts.get("unreachable"):
        parts.append(f"{len(facts['unreachable'])} hosts unreachable")  # type: ignore[arg-type]
    if facts.get("rounds"):
        parts.append(f"{facts['rounds']} rounds")
    flapping = sum(check.flapping for check in checks)
    if flapping:
        parts.append(f"{flapping} flapping")
    return f" ({'; '.join(parts)})" if parts else ""


def checks_table(checks: Sequence[Check], title: str, failed_only: bool = False,
                 unreachable: Sequence[str] = ()) -> Table:
    """The checks, one row each; the checks of an unreachable host are one row that points at the
    unreachable table (they all failed for the same reason)."""
    table = Table(title=title, title_justify="left")
    for column in ("host", "check", "expected", "actual"):
        table.add_column(column, overflow="fold")
    table.add_column("result", no_wrap=True)
    for host in unreachable:
        count = sum(check.host == host for check in checks)
        if count:
            table.add_row(host, f"{count} checks", "", Text("not run: host unreachable (see below)", style="red"),
                          Text("FAIL", style="bold red"))
    for check in checks:
        if (failed_only and check.passed) or check.host in unreachable:
            continue
        verdict = Text("pass", style="green") if check.passed else Text("FAIL", style="bold red")
        if check.flapping:
            verdict.append(" (flapped)", style="yellow")
        actual = Text(check.actual, style="" if check.passed else "red")
        table.add_row(check.host, check.check, check.expected, actual, verdict)
    return table


def print_report(console: Console, checks: Sequence[Check], seconds: float | None = None,
                 failed_only: bool = False, run_facts: Mapping[str, object] | None = None) -> None:
    unreachable = (run_facts or {}).get("unreachable")
    hosts = list(unreachable) if isinstance(unreachable, Mapping) else []
    console.print(checks_table(checks, summary_line(checks, seconds, run_facts), failed_only, hosts))
    if isinstance(unreachable, Mapping) and unreachable:
        console.print(unreachable_table(unreachable))


def junit_xml(checks: Sequence[Check], name: str = "vxauto validate", seconds: float | None = None) -> str:
    hosts: dict[str, list[Check]] = {}
    for check in checks:
        hosts.setdefault(check.host, []).append(check)
    failures = sum(not check.passed for check in checks)
    root = ET.Element("testsuites", name=name, tests=str(len(checks)), failures=str(failures), errors="0")
    if seconds is not None:
        root.set("time", f"{seconds:.3f}")
    for host, host_checks in hosts.items():
        suite = ET.SubElement(
            root, "testsuite", name=host, tests=str(len(host_checks)),
            failures=str(sum(not c.passed for c in host_checks)), errors="0", skipped="0",
        )
        for check in host_checks:
            case = ET.SubElement(suite, "testcase", name=check.check, classname=f"{host}.{check.kind or 'check'}")
            took = check.first_passed_s if check.passed else seconds
            if took is not None:
                case.set("time", f"{took:.3f}")
            if check.flapping:
                ET.SubElement(case, "system-out").text = "flapping: passed, then failed later in the run"
            if not check.passed:
                failure = ET.SubElement(case, "failure", message=f"expected {check.expected}, got {check.actual}",
                                        type="ValidationFailure")
                failure.text = (f"host: {host}\ncheck: {check.check}\n"
                                f"expected: {check.expected}\nactual: {check.actual}\n")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(checks: Sequence[Check], path: Path, seconds: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(checks, seconds=seconds), encoding="utf-8")
