"""`python -m vxauto.vtep run CONFIG` / `check CONFIG`: pyvtep on its own, without the vxauto CLI.

The lab runtime starts pyvtep nodes this way. It must not import `vxauto.cli` (imports flow from the
core packages to the CLI, never back), so it has its own small argument parser; `vxauto vtep ...` offers
the same commands and the API queries.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vxauto.errors import VxautoError

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vxauto.vtep", description="pyvtep, the Python software VTEP")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the VTEP in the foreground until SIGTERM (SIGHUP reloads)")
    run.add_argument("config", type=Path, help="pyvtep YAML config (see docs/pyvtep.md)")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    check = commands.add_parser("check", help="validate a config file without touching the system")
    check.add_argument("config", type=Path)
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "run":
            logging.basicConfig(level=arguments.log_level.upper(),
                                format="%(asctime)s %(name)s %(levelname)s %(message)s")
            for noisy in ("pyroute2", "asyncio"):
                logging.getLogger(noisy).setLevel(logging.WARNING)
            from vxauto.vtep.daemon import run_daemon

            run_daemon(arguments.config)
        else:
            from vxauto.vtep.config import load_config

            loaded = load_config(arguments.config)
            print(f"{arguments.config}: ok ({len(loaded.vnis)} VNIs, evpn {'on' if loaded.evpn else 'off'})")
    except VxautoError as error:
        print(str(error), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
