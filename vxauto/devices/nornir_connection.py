"""The Nornir connection deploy uses: nornir-napalm's, with vxauto's driver classes for eos/nxos/junos.

nornir-napalm resolves a platform with `napalm.get_network_driver`, which returns NAPALM's own vendor
drivers: those verify neither TLS certificates (EOS, NX-API) nor SSH host keys (Junos). This plugin takes
vxauto's subclasses instead (`vxauto.devices.registry.driver_class`: verification on, VXLAN getters),
and NAPALM's lookup for every other name (`frr` is the `napalm_frr` shim). Connection parameters still
come from the inventory's `connection_options: napalm:`.
"""

from __future__ import annotations

from typing import Any

from nornir.core.configuration import Config
from nornir.core.plugins.connections import ConnectionPluginRegister
from nornir_napalm.plugins.connections import Napalm

from vxauto.devices.registry import driver_class

#: The connection name deploy's tasks use (the inventory's options stay under `napalm`).
CONNECTION_NAME = "vxauto_napalm"


class VxautoNapalm(Napalm):
    """nornir-napalm's plugin, opening vxauto's driver class for the platform."""

    def open(
        self,
        hostname: str | None,
        username: str | None,
        password: str | None,
        port: int | None,
        platform: str | None,
        extras: dict[str, Any] | None = None,
        configuration: Config | None = None,
    ) -> None:
        parameters: dict[str, Any] = {"hostname": hostname, "username": username, "password": password,
                                      "optional_args": {}}
        ssh = getattr(configuration, "ssh", None)
        if ssh is not None and getattr(ssh, "config_file", None):
            parameters["optional_args"]["ssh_config_file"] = ssh.config_file
        parameters.update(extras or {})
        if port and "port" not in parameters["optional_args"]:
            parameters["optional_args"]["port"] = port
        connection = driver_class(platform or "")(**parameters)
        connection.open()
        self.connection = connection


def register() -> None:
    if CONNECTION_NAME not in ConnectionPluginRegister.available:
        ConnectionPluginRegister.register(CONNECTION_NAME, VxautoNapalm)
