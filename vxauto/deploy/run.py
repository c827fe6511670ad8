"""`vxauto deploy` and `vxauto rollback` as a Python API (the CLI in vxauto/cli/deploy.py only prints).

    outcomes = deploy(load_fabric("inventory"), DeployOptions(commit=True, lab=Path("containerlab/evpn-frr.clab.yml")))

Connection parameters come from the inventory (`connection_options: napalm: extras: optional_args:` of a
host, group or the defaults) or, with `lab`, from the running lab; `vxauto.devices.access` decides which
(the same module validate uses). In lab mode every selected host must be a node of the lab whose
management address is the host's inventory `hostname`, so a deploy never lands on a different machine
than the inventory names.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir.core import Nornir
from nornir.core.inventory import ConnectionOptions, Host
from nornir.core.processor import Processor
from nornir.core.task import AggregatedResult, MultiResult

from vxauto.deploy.tasks import confirm_host, deploy_host, rollback_host
from vxauto.devices.access import lab_connection_options, login_problems, nornir_napalm_fields
from vxauto.devices.nornir_connection import CONNECTION_NAME, register
from vxauto.devices.registry import SSH_DRIVERS, napalm_driver_for
from vxauto.errors import Problem, VxautoError
from vxauto.model.fabric import Fabric
from vxauto.model.nornir_inventory import nornir_for


@dataclass(frozen=True)
class DeployOptions:
    commit: bool = False
    replace: bool = True
    confirm_timeout: int | None = None
    confirm_later: bool = False  # leave a commit-confirm pending (`confirm`, or a rollback, must follow)
    backups: Path = Path("backups")
    workers: int = 8
    lab: Path | None = None


@dataclass
class HostOutcome:
    """What happened on one host. status: unchanged | would-change | changed | pending (a commit-confirm
    not confirmed yet) | confirmed | failed."""

    host: str
    platform: str
    status: str
    diff: str = ""
    error: str | None = None
    backup: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "platform": self.platform, "status": self.status, "changed": self.status in
                ("changed", "pending"), "failed": self.status == "failed", "diff": self.diff, "error": self.error,
                "backup": self.backup, "seconds": round(self.seconds, 3)}


class _Timing:
    """Per-host wall time of the top-level task (a Nornir Processor: hooks measure, tasks do not)."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.took: dict[str, float] = {}

    def task_started(self, task: Any) -> None:
        return None

    def task_completed(self, task: Any, result: AggregatedResult) -> None:
        return None

    def task_instance_started(self, task: Any, host: Host) -> None:
        self.started[host.name] = time.monotonic()

    def task_instance_completed(self, task: Any, host: Host, result: MultiResult) -> None:
        self.took[host.name] = time.monotonic() - self.started.get(host.name, time.monotonic())

    def subtask_instance_started(self, task: Any, host: Host) -> None:
        return None

    def subtask_instance_completed(self, task: Any, host: Host, result: MultiResult) -> None:
        return None


def connect_nornir(fabric: Fabric, hosts: Sequence[str], workers: int, lab: Path | None) -> Nornir:
    """Nornir over the selected hosts with each host's NAPALM connection set up."""
    chosen = set(hosts)
    problems: list[Problem] = []
    for name in hosts:
        try:
            napalm_driver_for(fabric.hosts[name].platform, name)
        except VxautoError as error:
            problems += error.problems
    VxautoError.collect(problems)
    register()  # InitNornir registers plugins from entry points; a Nornir built from objects must do it itself
    from_lab = lab_connection_options(fabric, hosts, lab) if lab is not None else {}
    nornir = nornir_for(fabric, workers).filter(filter_func=lambda host: host.name in chosen)
    for name, host in nornir.inventory.hosts.items():
        fields = nornir_napalm_fields(host, from_lab.get(name))
        driver = napalm_driver_for(fabric.hosts[name].platform, name)
        host.connection_options[CONNECTION_NAME] = ConnectionOptions(platform=driver, **fields)
        if driver in SSH_DRIVERS:  # an SSH login: refuse one that cannot work before trying it
            problems += login_problems(name, fields["extras"]["optional_args"], fields["password"])
    VxautoError.collect(problems)
    return nornir


def deploy(
    fabric: Fabric, hosts: Sequence[str], options: DeployOptions, processors: Sequence[Processor] = ()
) -> list[HostOutcome]:
    """Deploy the rendered intent to `hosts` (dry run unless `options.commit`); one outcome per host."""
    nornir = connect_nornir(fabric, hosts, options.workers, options.lab)
    timing = _Timing()
    try:
        results = nornir.with_processors([timing, *processors]).run(
            task=deploy_host, fabric=fabric, commit=options.commit, replace=options.replace,
            backups=options.backups, confirm_timeout=options.confirm_timeout, confirm=not options.confirm_later,
        )
    finally:
        nornir.close_connections()
    outcomes = []
    for name in hosts:
        multi = results[name]
        platform = fabric.hosts[name].platform
        seconds = timing.took.get(name, 0.0)
        if multi.failed:
            backup = next((r.result for r in multi if r.name == "backup_running" and not r.failed), None)
            outcomes.append(HostOutcome(name, platform, "failed", error=_error_text(multi), backup=backup,
                                        seconds=seconds))
            continue
        top = multi[0]
        diff = top.diff or ""
        status = "unchanged" if not diff else ("changed" if options.commit else "would-change")
        if (top.result or {}).get("pending"):
            status = "pending"
        outcomes.append(HostOutcome(name, platform, status, diff=diff, backup=(top.result or {}).get("backup"),
                                    seconds=seconds))
    return outcomes


def confirm(fabric: Fabric, hosts: Sequence[str], workers: int, lab: Path | None) -> list[HostOutcome]:
    """Confirm the pending commit-confirm of each host (`deploy` with `confirm_later`)."""
    nornir = connect_nornir(fabric, hosts, workers, lab)
    timing = _Timing()
    try:
        results = nornir.with_processors([timing]).run(task=confirm_host)
    finally:
        nornir.close_connections()
    outcomes = []
    for name in hosts:
        multi, platform = results[name], fabric.hosts[name].platform
        status, error = ("failed", _error_text(multi)) if multi.failed else ("confirmed", None)
        outcomes.append(HostOutcome(name, platform, status, error=error, seconds=timing.took.get(name, 0.0)))
    return outcomes


def rollback(fabric: Fabric, host: str, to: Path | None, backups: Path, lab: Path | None) -> HostOutcome:
    """Undo the host's last commit, or restore a backup file (`to`)."""
    if to is not None and not to.exists():
        candidate = backups / host / to.name
        if not candidate.exists():
            raise VxautoError.single(str(to), "", f"--to: no such backup (looked in {backups / host})")
        to = candidate
    nornir = connect_nornir(fabric, [host], 1, lab)
    try:
        results = nornir.run(task=rollback_host, to=to, backups=backups)
    finally:
        nornir.close_connections()
    multi = results[host]
    platform = fabric.hosts[host].platform
    if multi.failed:
        return HostOutcome(host, platform, "failed", error=_error_text(multi))
    diff = multi[0].diff or ""
    return HostOutcome(host, platform, "changed" if diff else "unchanged", diff=diff)


#: NAPALM's exceptions whose message (from vxauto's driver) already says what failed, and what that means.
_MEANING = {
    "ConnectionException": "",
    "CommitError": "",
    "CommitConfirmException": "",
    "ReplaceConfigException": "; the device refuses this candidate, nothing was changed",
    "MergeConfigException": "; the device refuses this candidate, nothing was changed",
}


def _error_text(multi: MultiResult) -> str:
    """The innermost failure of a host's run, as one readable line (never a traceback)."""
    failures = [result for result in multi if result.failed and result.exception is not None]
    for result in reversed(failures):
        name = type(result.exception).__name__
        if name == "NornirSubTaskError":
            continue
        text = str(result.exception)
        if name != "CommitError":  # keep a commit's diff readable; Netmiko's and Paramiko's texts span lines
            text = " ".join(text.split())
        if name in _MEANING:
            return text + _MEANING[name]
        return f"{name}: {text}"
    if failures:
        return " ".join(str(failures[-1].exception).split())
    return str(multi[0].result)
