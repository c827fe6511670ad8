"""`vxauto vtep` sub-commands: run pyvtep, check its config, query and reload a running one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from vxauto.cli.common import bad_input_exits

app = typer.Typer(no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="vtep", help="pyvtep, the Python software VTEP.")


ConfigArgument = Annotated[Path, typer.Argument(help="pyvtep YAML config (see docs/pyvtep.md).")]
SocketOption = Annotated[
    Path | None, typer.Option("--socket", "-s", help="API socket; default from --config or /run/pyvtep/pyvtep.sock.")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Config whose api.socket to use.")]


@app.command()
def run(
    config: ConfigArgument,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error.")] = "info",
) -> None:
    """Run the VTEP in the foreground until SIGTERM (SIGHUP reloads the config)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("pyroute2", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with bad_input_exits():
        from vxauto.vtep.daemon import run_daemon

        run_daemon(config)


@app.command()
def check(config: ConfigArgument) -> None:
    """Validate a config file without touching the system."""
    with bad_input_exits():
        from vxauto.vtep.config import load_config

        loaded = load_config(config)
        typer.echo(f"{config}: ok ({len(loaded.vnis)} VNIs, evpn {'on' if loaded.evpn else 'off'})")


def _socket_path(socket: Path | None, config: Path | None) -> Path:
    if socket is not None:
        return socket
    from vxauto.vtep.config import DEFAULT_SOCKET_DIR, load_config

    if config is not None:
        return load_config(config).socket_path
    return DEFAULT_SOCKET_DIR / "pyvtep.sock"


@app.command()
def show(
    what: Annotated[str, typer.Argument(help="status, vnis, vteps, macs, counters or evpn.")],
    socket: SocketOption = None,
    config: ConfigOption = None,
    vni: Annotated[int | None, typer.Option(help="Only this VNI (macs).")] = None,
) -> None:
    """Print one table of a running pyvtep as JSON."""
    with bad_input_exits():
        from vxauto.errors import VxautoError
        from vxauto.vtep.api import OPS, request

        if what not in OPS or what == "reload":
            raise VxautoError.single("command line", "WHAT", "unknown table", what)
        arguments = {"vni": vni} if vni is not None else {}
        result = request(_socket_path(socket, config), what, **arguments)
        typer.echo(json.dumps(result, indent=2))


@app.command()
def reload(socket: SocketOption = None, config: ConfigOption = None) -> None:
    """Ask a running pyvtep to re-read its config (learned MACs are kept)."""
    with bad_input_exits():
        from vxauto.vtep.api import request

        typer.echo(json.dumps(request(_socket_path(socket, config), "reload"), indent=2))
