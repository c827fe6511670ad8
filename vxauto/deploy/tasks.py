"""Nornir tasks of `vxauto deploy` / `vxauto rollback`: plain functions returning a `Result`.

`deploy_host` renders the host, loads the rendered configuration over its NAPALM connection
(`connection.py`) and gets the diff; with `commit` and a diff it backs up the running
configuration and commits (nornir-napalm's `napalm_configure` steps, split into subtasks). With a confirm
timeout the commit is a commit-confirm: the task opens a *new* connection to the device (proving it is
still reachable after the change) and only then confirms; if that fails the device rolls itself back
when the timer expires. An exception fails its host only; Nornir carries on with the others.
"""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime
from pathlib import Path

from nornir.core.task import Result, Task

from vxauto.devices.napalm_frr.bundle import Bundle
from vxauto.devices.nornir_connection import CONNECTION_NAME
from vxauto.devices.registry import managed_file, takes_bundle
from vxauto.errors import VxautoError
from vxauto.model.fabric import Fabric
from vxauto.render.engine import RenderedConfig, render_device


def configuration_text(rendered: RenderedConfig) -> str:
    """What NAPALM loads: a bundle for the Linux/FRR driver, the platform's managed file where it renders
    several (pyvtep: pyvtep.yaml; its interfaces.sh is applied when the host is provisioned), the single
    rendered file for the others."""
    if takes_bundle(rendered.platform):
        return Bundle.from_rendered(rendered).dumps()
    managed = managed_file(rendered.platform)
    if managed is not None:
        if managed not in rendered.files:
            raise VxautoError.single(rendered.host, "", f"{rendered.platform} rendered no {managed}")
        return rendered.files[managed]
    if len(rendered.files) != 1:
        raise VxautoError.single(rendered.host, "", f"{rendered.platform} renders {len(rendered.files)} files; "
                                 "NAPALM loads one configuration text")
    return next(iter(rendered.files.values()))


def backup_suffix(platform: str) -> str:
    """A bundle is JSON, a managed file keeps its own suffix (pyvtep: .yaml), anything else is .cfg."""
    managed = managed_file(platform)
    return ".json" if takes_bundle(platform) else Path(managed).suffix if managed else ".cfg"


def backup_running(task: Task, backups: Path) -> Result:
    """Save the running configuration under `backups/<host>/<UTC time><ext>`; result: the path."""
    device = task.host.get_connection(CONNECTION_NAME, task.nornir.config)
    running = device.get_config(retrieve="running")["running"]
    directory = backups / task.host.name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + backup_suffix(task.host.platform or ""))
    path.write_text(running, encoding="utf-8")
    return Result(host=task.host, result=str(path))


def load_and_compare(task: Task, configuration: str, replace: bool) -> Result:
    """Load the candidate (replace or merge) and return the device's diff; nothing is applied."""
    device = task.host.get_connection(CONNECTION_NAME, task.nornir.config)
    if replace:
        device.load_replace_candidate(config=configuration)
    else:
        device.load_merge_candidate(config=configuration)
    diff = device.compare_config()
    return Result(host=task.host, diff=diff, changed=False)


def commit_candidate(task: Task, revert_in: int | None = None) -> Result:
    """Commit the loaded candidate (the driver saves its rollback point, verifies, restores on failure)."""
    device = task.host.get_connection(CONNECTION_NAME, task.nornir.config)
    device.commit_config(message="vxauto deploy", revert_in=revert_in)
    return Result(host=task.host, changed=True)


def discard_candidate(task: Task) -> Result:
    task.host.get_connection(CONNECTION_NAME, task.nornir.config).discard_config()
    return Result(host=task.host)


def confirm_after_reconnect(task: Task) -> Result:
    """Reconnect from scratch, then confirm the pending commit (the change left the device reachable)."""
    task.host.close_connection(CONNECTION_NAME)
    device = task.host.get_connection(CONNECTION_NAME, task.nornir.config)
    device.confirm_commit()
    return Result(host=task.host, result="confirmed")


def deploy_host(
    task: Task,
    fabric: Fabric,
    commit: bool,
    replace: bool,
    backups: Path,
    confirm_timeout: int | None = None,
    confirm: bool = True,
) -> Result:
    """Render, diff and (with `commit`, when there is a diff) back up and commit one host.

    The same steps as nornir-napalm's `napalm_configure`, split into subtasks so that the backup happens
    only when something will change and between the diff and the commit (the driver reuses the diff's
    reading for the commit). `Result.diff` is the device's diff. With a confirm timeout and `confirm`
    False the commit is left pending: `confirm_host` (or a rollback) must follow before the timeout.
    """
    rendered = render_device(fabric.device(task.host.name))
    configuration = configuration_text(rendered)
    diff = task.run(task=load_and_compare, configuration=configuration, replace=replace).diff or ""
    if not commit or not diff:
        task.run(task=discard_candidate)
        return Result(host=task.host, diff=diff, changed=False, result={"backup": None})
    backup = task.run(task=backup_running, backups=backups).result
    task.run(task=commit_candidate, revert_in=confirm_timeout)
    pending = confirm_timeout is not None and not confirm
    if confirm_timeout is not None and confirm:
        task.run(task=confirm_after_reconnect)
    return Result(host=task.host, diff=diff, changed=True, result={"backup": backup, "pending": pending})


def confirm_host(task: Task) -> Result:
    """Confirm the host's pending commit-confirm (stops its revert timer)."""
    task.host.get_connection(CONNECTION_NAME, task.nornir.config).confirm_commit()
    return Result(host=task.host, result="confirmed")


def rollback_host(task: Task, to: Path | None, backups: Path) -> Result:
    """Undo the last commit (`to` None) or replace the configuration with a backup file; diff as result."""
    device = task.host.get_connection(CONNECTION_NAME, task.nornir.config)
    before = device.get_config(retrieve="running")["running"]
    if to is None:
        device.rollback()
    else:
        task.run(task=backup_running, backups=backups)
        device.load_replace_candidate(filename=str(to))
        if device.compare_config():
            device.commit_config(message=f"vxauto rollback --to {to.name}")
        else:
            device.discard_config()
    after = device.get_config(retrieve="running")["running"]
    diff = running_diff(before, after, task.host.name)
    return Result(host=task.host, diff=diff, changed=bool(diff))


def running_diff(before: str, after: str, host: str) -> str:
    """Unified diff of two running configurations (bundles are compared file by file)."""
    pairs = _files(before), _files(after)
    lines: list[str] = []
    for name in sorted(set(pairs[0]) | set(pairs[1])):
        lines += difflib.unified_diff(pairs[0].get(name, "").splitlines(), pairs[1].get(name, "").splitlines(),
                                      f"{host} {name} (before)", f"{host} {name} (after)", n=1, lineterm="")
    return "\n".join(lines) + "\n" if lines else ""


def _files(text: str) -> dict[str, str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return {"config": text}
    files = document.get("files") if isinstance(document, dict) else None
    return dict(files) if isinstance(files, dict) else {"config": text}
