"""`vxauto monitor`: registers the Typer commands (monitor_app.py) and is the monitor's own lean entry.

`python -m vxauto.cli.monitor pcap FILE...` (and `vxauto monitor pcap FILE...`, see main.py) runs the
pcap command without starting Typer when the command line is a plain one (monitor_pcap.fast_main), and
through Typer otherwise, with the same result. This module imports neither; `app` and the other
attributes of monitor_app are looked up there on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer


def register(parent: typer.Typer) -> None:
    from vxauto.cli.monitor_app import register as register_app

    register_app(parent)


def main(args: list[str]) -> int:
    """`monitor ARGS`: the lean path for `pcap`, Typer for everything else."""
    if args[:1] == ["pcap"]:
        from vxauto.cli.monitor_pcap import fast_main

        code = fast_main(args[1:])
        if code is not None:
            return code
    from vxauto.cli.monitor_app import app

    app(args)  # exits (Click's standalone mode)
    return 0


def __getattr__(name: str) -> Any:
    # Only names of monitor_app.py: the import system probes modules for others (`__path__`), and those
    # must not start Typer.
    if name.startswith("__"):
        raise AttributeError(name)
    from vxauto.cli import monitor_app

    return getattr(monitor_app, name)


if __name__ == "__main__":  # `python -m vxauto.cli.monitor pcap ...`: the monitor alone, without the other commands
    sys.exit(main(sys.argv[1:]))
