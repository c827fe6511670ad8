"""Shared CLI plumbing: one place that turns bad input into exit code 2 without a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vxauto.errors import EXIT_BAD_INPUT, VxautoError

console = Console()
err_console = Console(stderr=True)

InventoryOption = Annotated[
    Path, typer.Option("--inventory", "-i", help="Inventory directory (Nornir SimpleInventory + fabric.yaml).")
]
DEFAULT_INVENTORY = Path("inventory")


def report_bad_input(error: VxautoError) -> None:
    """Print every problem of a `VxautoError`, one per line, to stderr."""
    count = len(error.problems)
    err_console.print(f"[bold red]error:[/] {count} problem{'s' if count != 1 else ''} found", highlight=False)
    for problem in error.problems:
        err_console.print(f"  {problem}", highlight=False, markup=False, soft_wrap=True)


@contextmanager
def bad_input_exits() -> Iterator[None]:
    """Run a command body; a `VxautoError` prints its problems and exits 2, nothing else is touched."""
    try:
        yield
    except VxautoError as error:
        report_bad_input(error)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
