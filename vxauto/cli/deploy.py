"""`vxauto deploy` and `vxauto rollback`: push the rendered intent safely, and undo it.

    vxauto deploy -i inventory --lab containerlab/evpn-frr.clab.yml             # dry run: per-host diff
    vxauto deploy -i inventory --lab containerlab/evpn-frr.clab.yml --commit    # backup, push, commit
    vxauto rollback leaf1 -i inventory --lab containerlab/evpn-frr.clab.yml     # undo leaf1's last commit
    vxauto deploy ... --commit --confirm-timeout 120 --confirm-later            # pending until confirmed
    vxauto confirm --hosts leaf1 -i inventory --lab containerlab/evpn-frr.clab.yml

Exit codes: 0 when every selected host succeeded (a dry run with changes included), 1 when a host
failed, 2 for bad input (inventory, options, lab mismatch).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from vxauto.cli.common import (
    DEFAULT_INVENTORY,
    GroupsOption,
    HostsOption,
    InventoryOption,
    JsonOption,
    LabOption,
    PlatformOption,
    RoleOption,
    WorkersOption,
    bad_input_exits,
    console,
    err_console,
)
from vxauto.cli.progress import nornir_progress
from vxauto.errors import VxautoError
from vxauto.model.fabric import Fabric, load_fabric
from vxauto.model.select import select_hosts

if TYPE_CHECKING:
    from vxauto.deploy.run import HostOutcome

BackupsOption = Annotated[Path, typer.Option("--backups", help="Directory for running-config backups.")]

#: Libraries that log a failed host's traceback (Nornir) or connection noise (Paramiko) to stderr when the
#: program configures no logging; their failures reach the user as the host's error row instead.
QUIET_LOGGERS = ("nornir", "nornir_napalm", "paramiko", "netmiko", "napalm")


def quiet_library_logs() -> None:
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


STATUS_STYLE = {"unchanged": "dim", "would-change": "yellow", "changed": "green", "pending": "yellow",
                "confirmed": "green", "failed": "bold red"}


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy_command)
    app.command("confirm")(confirm_command)
    app.command("rollback")(rollback_command)


def deploy_command(
    inventory: InventoryOption = DEFAULT_INVENTORY,
    hosts: HostsOption = None,
    groups: GroupsOption = None,
    role: RoleOption = None,
    platform: PlatformOption = None,
    commit: Annotated[bool, typer.Option("--commit", help="Apply (default: dry run, show the diff only).")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="Only add; remove nothing the intent lost.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace what vxauto owns (default).")] = False,
    confirm_timeout: Annotated[int | None, typer.Option(
        "--confirm-timeout", help="Commit-confirm: the device reverts after S seconds unless vxauto reconnects "
        "and confirms.", min=1)] = None,
    confirm_later: Annotated[bool, typer.Option(
        "--confirm-later", help="With --confirm-timeout: leave the commit pending; `vxauto confirm` (or "
        "`vxauto rollback`) must follow before the timeout, or the device reverts.")] = False,
    lab: LabOption = None,
    backups: BackupsOption = Path("backups"),
    workers: WorkersOption = 8,
    wait: Annotated[float | None, typer.Option(
        "--wait", help="After --commit: validate the changed hosts (`vxauto validate --wait`) until they "
        "converge, at most SECONDS; exit 1 if they do not.", min=0)] = None,
    as_json: JsonOption = False,
) -> None:
    """Push the rendered intent to the devices: a dry-run diff, or (--commit) backup, push, commit."""
    quiet_library_logs()
    with bad_input_exits():
        if merge and replace:
            raise VxautoError.single("command line", "--merge/--replace", "choose one")
        if wait is not None and not commit:
            raise VxautoError.single("command line", "--wait", "needs --commit (a dry run changes nothing to wait "
                                     "for)")
        if confirm_later and (confirm_timeout is None or not commit):
            raise VxautoError.single("command line", "--confirm-later", "needs --commit and --confirm-timeout S")
        fabric = load_fabric(inventory)
        selected = select_hosts(fabric, hosts, groups, role, platform)
        # NAPALM and its drivers take a second to import: only commands that deploy pay for it.
        from vxauto.deploy.run import DeployOptions, deploy

        options = DeployOptions(commit=commit, replace=not merge, confirm_timeout=confirm_timeout,
                                confirm_later=confirm_later, backups=backups, workers=workers, lab=lab)
        with nornir_progress("deploying" if commit else "diffing", enabled=not as_json) as processors:
            outcomes = deploy(fabric, selected, options, processors)
    converged = True
    validation: dict[str, object] | None = None
    if wait is not None:
        changed = [outcome.host for outcome in outcomes if outcome.status in ("changed", "pending")]
        converged, validation = _wait_for_convergence(fabric, changed, lab, workers, wait, as_json)
    _report(outcomes, commit, as_json, validation)
    if any(outcome.status == "failed" for outcome in outcomes) or not converged:
        raise typer.Exit(1)


def _wait_for_convergence(
    fabric: Fabric, changed: list[str], lab: Path | None, workers: int, wait: float, as_json: bool
) -> tuple[bool, dict[str, object]]:
    """Validate the changed hosts with the validate engine until they converge or `wait` runs out.

    Lives in the CLI: vxauto.deploy must not import vxauto.validate (imports flow one way)."""
    if not changed:
        return True, {"hosts": [], "passed": True, "summary": "nothing changed: no convergence to wait for"}
    from vxauto.validate.report import run_facts, summary_line
    from vxauto.validate.run import validate_fabric

    with bad_input_exits():
        if as_json:
            run = validate_fabric(fabric, changed, lab, workers=workers, wait=wait)
        else:
            with err_console.status(f"validating {len(changed)} changed hosts (waiting up to {wait:g} s for "
                                    "convergence)"):
                run = validate_fabric(fabric, changed, lab, workers=workers, wait=wait)
    facts = run_facts(run)
    summary = summary_line(run.checks, run.timings.get("total"), facts)
    return run.passed, {"hosts": changed, "passed": run.passed, "summary": summary, **facts}


def confirm_command(
    inventory: InventoryOption = DEFAULT_INVENTORY,
    hosts: HostsOption = None,
    groups: GroupsOption = None,
    role: RoleOption = None,
    platform: PlatformOption = None,
    lab: LabOption = None,
    workers: WorkersOption = 8,
    as_json: JsonOption = False,
) -> None:
    """Confirm the pending commit-confirm (deploy --confirm-later) of the selected hosts."""
    quiet_library_logs()
    with bad_input_exits():
        fabric = load_fabric(inventory)
        selected = select_hosts(fabric, hosts, groups, role, platform)
        from vxauto.deploy.run import confirm

        outcomes = confirm(fabric, selected, workers, lab)
    _report(outcomes, True, as_json, title="confirm")
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(1)


def rollback_command(
    host: Annotated[str, typer.Argument(help="Inventory host to roll back.")],
    to: Annotated[Path | None, typer.Option(
        "--to", help="A backup file (path, or its name under BACKUPS/HOST/); default: undo the last commit.")] = None,
    inventory: InventoryOption = DEFAULT_INVENTORY,
    lab: LabOption = None,
    backups: BackupsOption = Path("backups"),
    as_json: JsonOption = False,
) -> None:
    """Undo HOST's last commit, or restore one of its backups (--to)."""
    quiet_library_logs()
    with bad_input_exits():
        fabric = load_fabric(inventory)
        select_hosts(fabric, [host])  # an unknown host is bad input (exit 2)
        from vxauto.deploy.run import rollback

        outcome = rollback(fabric, host, to, backups, lab)
    _report([outcome], True, as_json, title="rollback")
    if outcome.status == "failed":
        raise typer.Exit(1)


def _report(
    outcomes: list[HostOutcome], commit: bool, as_json: bool, validation: dict[str, object] | None = None,
    title: str = "deploy",
) -> None:
    if as_json:
        print(json.dumps({
            "dry_run": not commit,
            "hosts": [outcome.as_dict() for outcome in outcomes],
            "changed": sum(o.status in ("changed", "would-change", "pending") for o in outcomes),
            "failed": sum(o.status == "failed" for o in outcomes),
            **({"validation": validation} if validation is not None else {}),
        }, indent=1))
        return
    for outcome in outcomes:
        if outcome.diff:
            title = f"{outcome.host}: {'applied' if commit else 'would apply'}"
            console.print(Panel(Syntax(outcome.diff.rstrip("\n"), "diff", theme="ansi_dark", word_wrap=True),
                                title=title, title_align="left"))
    table = Table(title="dry run (nothing changed)" if not commit else title)
    for column in ("host", "platform", "result", "-/+ lines", "seconds", "backup / error"):
        table.add_column(column)
    for outcome in outcomes:
        removed, added = _counts(outcome.diff)
        style = STATUS_STYLE.get(outcome.status, "")
        table.add_row(outcome.host, outcome.platform, f"[{style}]{outcome.status}[/]",
                      f"-{removed}/+{added}" if outcome.diff else "", f"{outcome.seconds:.1f}",
                      outcome.error or outcome.backup or "")
    console.print(table)
    if validation is not None:
        style = "green" if validation["passed"] else "bold red"
        hosts = validation["hosts"]
        names = " ".join(str(name) for name in hosts) if isinstance(hosts, list) else ""
        console.print(f"[{style}]validate {names}: {validation['summary']}[/]", highlight=False)


def _counts(diff: str) -> tuple[int, int]:
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++"))]
    return sum(line.startswith("-") for line in lines), sum(line.startswith("+") for line in lines)
