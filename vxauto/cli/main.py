"""The `vxauto` command line (Typer + Rich).

Each concern owns its sub-command module (`vxauto/cli/<concern>.py`); this file only mounts them.
"""

from __future__ import annotations

import typer

from vxauto.cli import deploy as deploy_cli
from vxauto.cli import fabric as fabric_cli
from vxauto.cli import validate as validate_cli

app = typer.Typer(
    name="vxauto",
    help="Intent-driven automation, lab and visibility for VXLAN overlay fabrics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
fabric_cli.register(app)
deploy_cli.register(app)
validate_cli.register(app)


def _mount_optional_subcommands() -> None:
    """Mount the sub-apps of the other concerns (lab, vtep, monitor, ...)."""
    from vxauto.cli import lab, monitor, vtep

    app.add_typer(lab.app, name="lab", help="Run containerlab topologies (containerlab or netns runtime).")
    app.add_typer(vtep.app, name="vtep", help="pyvtep, the Python software VTEP.")
    app.add_typer(monitor.app, name="monitor", help="See inside the tunnels: decode and check VXLAN traffic.")


_mount_optional_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
