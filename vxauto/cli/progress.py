"""A Rich progress bar for Nornir runs, as a Nornir Processor (progress hangs off hooks, not tasks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nornir.core.inventory import Host
from nornir.core.processor import Processor
from nornir.core.task import AggregatedResult, MultiResult, Task
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from vxauto.cli.common import err_console


class ProgressBar:
    """Nornir processor: one bar step per host whose top-level task finished (failed hosts included)."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress = progress
        self.description = description
        self.task_id: Any = None

    def task_started(self, task: Task) -> None:
        total = len(task.nornir.inventory.hosts) if task.nornir else None
        self.task_id = self.progress.add_task(self.description, total=total)

    def task_completed(self, task: Task, result: AggregatedResult) -> None:
        self.progress.update(self.task_id, description=f"{self.description}: done")

    def task_instance_started(self, task: Task, host: Host) -> None:
        return

    def task_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        failed = " (failed)" if result.failed else ""
        self.progress.update(self.task_id, advance=1, description=f"{self.description}: {host.name}{failed}")

    def subtask_instance_started(self, task: Task, host: Host) -> None:
        return

    def subtask_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        return


@contextmanager
def nornir_progress(description: str, enabled: bool = True) -> Iterator[list[Processor]]:
    """Yields the processors to hand to `Nornir.with_processors` (none when disabled, e.g. with --json)."""
    if not enabled:
        yield []
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        yield [ProgressBar(progress, description)]
