"""`vxauto validate`: compare the running fabric with the intent (getters + data-plane probes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

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
from vxauto.errors import VxautoError
from vxauto.model.fabric import load_fabric
from vxauto.model.select import select_hosts
from vxauto.validate.convergence import DEFAULT_WAIT_S
from vxauto.validate.report import print_report, report_json, run_facts, write_junit

JunitOption = Annotated[Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")]
WaitOption = Annotated[
    float, typer.Option("--wait", help="Seconds to wait for the fabric to converge: failing checks are read and "
                        "probed again until all pass or this deadline; 0 takes one snapshot.")
]
FailedOnlyOption = Annotated[bool, typer.Option("--failed-only", help="Table: show failed checks only.")]


def register(app: typer.Typer) -> None:
    app.command()(validate)


def validate(
    inventory: InventoryOption = DEFAULT_INVENTORY,
    hosts: HostsOption = None,
    groups: GroupsOption = None,
    role: RoleOption = None,
    platform: PlatformOption = None,
    lab: LabOption = None,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    workers: WorkersOption = 8,
    wait: WaitOption = DEFAULT_WAIT_S,
    failed_only: FailedOnlyOption = False,
    traffic: Annotated[bool, typer.Option(
        "--traffic", help="Capture the VXLAN traffic of every VTEP during the checks (lab only) and add the "
        "anomalies vxauto monitor finds to the report.")] = False,
) -> None:
    """Check VNIs, VTEPs, EVPN sessions and routes, MACs and the data plane against the intent.

    Exit 0 when every check passes, 1 when any fails, 2 on bad input.
    """
    with bad_input_exits():
        if workers < 1:
            raise VxautoError.single("command line", "--workers", "must be at least 1", workers)
        if wait < 0:
            raise VxautoError.single("command line", "--wait", "must not be negative", wait)
        fabric = load_fabric(inventory)
        selected = select_hosts(fabric, hosts, groups, role, platform)
        from vxauto.validate.run import validate_fabric  # NAPALM, numpy: imported only when validating
        if as_json:
            run = validate_fabric(fabric, selected, lab, workers=workers, wait=wait, traffic=traffic)
        else:
            with err_console.status(f"validating {len(selected)} hosts: getters and data-plane probes "
                                    f"(waiting up to {wait:g} s for convergence)"):
                run = validate_fabric(fabric, selected, lab, workers=workers, wait=wait, traffic=traffic)
    facts = run_facts(run)
    if junit is not None:
        write_junit(run.checks, junit, run.timings.get("total"))
    if as_json:
        print(json.dumps(report_json(run.checks, facts), indent=2))
    else:
        print_report(console, run.checks, run.timings.get("total"), failed_only, facts)
        if junit is not None:
            err_console.print(f"wrote {junit}", highlight=False)
    raise typer.Exit(0 if run.passed else 1)
