"""The `vxauto` entry point: `main()` runs the Typer app of app.py.

`vxauto monitor pcap FILE...` skips Typer when its command line is a plain one (monitor_pcap.fast_main):
starting Typer costs more CPU than decoding a 100 MB capture. Every other command line, and any unusual
`monitor pcap` one, goes to Typer as before. The app's attributes (`app`, `COMMANDS`, ...) are looked up
in app.py on first use, so importing this module imports no Typer.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    args = sys.argv[1:]
    if args[:2] == ["monitor", "pcap"]:
        from vxauto.cli.monitor_pcap import fast_main

        code = fast_main(args[2:])
        if code is not None:
            sys.exit(code)
    from vxauto.cli.app import app

    app()


def __getattr__(name: str) -> Any:
    # Only names of app.py: the import system probes modules for others (`__path__` on every
    # `from vxauto.cli.main import main`), and those must not start Typer.
    if name.startswith("__"):
        raise AttributeError(name)
    from vxauto.cli import app

    return getattr(app, name)


if __name__ == "__main__":
    main()
