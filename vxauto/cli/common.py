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
from vxauto.lab.kinds import RUNTIMES

console = Console()
err_console = Console(stderr=True)

# Options and arguments that several commands share, each defined here once.
InventoryOption = Annotated[
    Path, typer.Option("--inventory", "-i", help="Inventory directory (Nornir SimpleInventory + fabric.yaml).")
]
DEFAULT_INVENTORY = Path("inventory")
HostsOption = Annotated[list[str] | None, typer.Option("--hosts", help="Only these hosts (repeat or a,b).")]
GroupsOption = Annotated[list[str] | None, typer.Option("--groups", help="Only members of these groups.")]
RoleOption = Annotated[list[str] | None, typer.Option("--role", help="Only hosts with this role.")]
PlatformOption = Annotated[list[str] | None, typer.Option("--platform", help="Only hosts of this platform.")]
WorkersOption = Annotated[int, typer.Option("--workers", help="Hosts handled concurrently.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
LabOption = Annotated[
    Path | None,
    typer.Option("--lab", help="Reach the nodes through the running lab of this topology file (its SSH key, "
                 "known_hosts, node shells and FRR pathspace) instead of the inventory's addresses."),
]
TopologyArgument = Annotated[Path, typer.Argument(help="containerlab topology file (*.clab.yml).")]
RuntimeOption = Annotated[
    str, typer.Option("--runtime", help=f"{' | '.join(RUNTIMES)}: auto uses containerlab if Docker answers.")
]


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
