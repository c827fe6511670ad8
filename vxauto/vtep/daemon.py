"""Run one pyvtep: load the config, start the engine, the API and (if configured) EVPN, loop, clean up."""

from __future__ import annotations

import logging
from pathlib import Path

from vxauto.vtep.api import ApiServer
from vxauto.vtep.config import PyvtepConfig, load_config
from vxauto.vtep.engine import Engine

log = logging.getLogger("vxauto.vtep")


def run_daemon(config_path: Path, config: PyvtepConfig | None = None) -> None:
    """Blocks until SIGTERM/SIGINT; every TAP it created and the API socket are gone on return."""
    config = config or load_config(config_path)
    engine = Engine(config, config_path)
    engine.start()
    try:
        engine.api = ApiServer(engine, config.socket_path)
        if config.evpn is not None:
            from vxauto.vtep.evpn import EvpnAgent

            agent = EvpnAgent(engine, config.evpn)
            engine.evpn = agent
            agent.start()
        engine.run()
    finally:
        engine.close()
        log.info("pyvtep %s stopped", config.name)
