"""NAPALM's EOS driver plus the VXLAN getters (eAPI JSON, or `| json` over SSH), with eAPI's TLS
certificate verified (NAPALM/pyeapi's default verifies nothing).

optional_args added by vxauto: `ca_file` (CA bundle that signed the switch's eAPI certificate; default: the
system's trusted CAs), `insecure_skip_verify` (true: no certificate check, with a warning; also the only way
to use `transport: http`, which has no TLS at all).
"""

from __future__ import annotations

import ssl
from typing import Any

from napalm.base.exceptions import ConnectionException
from napalm.eos import EOSDriver
from pyeapi.eapilib import CommandError
from pyeapi.eapilib import ConnectionError as PyeapiConnectionError

from vxauto.devices.contract import VniTable, VtepTable
from vxauto.devices.drivers._verify import OPT_OUT, certificate_trusted, verified_args
from vxauto.devices.drivers._vxlan import VxlanReplies, rejected
from vxauto.devices.parsers import eos as parser


class VxautoEOSDriver(VxlanReplies, EOSDriver):
    """`napalm.eos.EOSDriver` with `get_vxlan_vnis()` and `get_vxlan_vteps()`."""

    vxlan_platform = parser.PLATFORM

    def __init__(
        self,
        hostname: str,
        username: str,
        password: str,
        timeout: int = 60,
        optional_args: dict[str, Any] | None = None,
    ) -> None:
        args, insecure = verified_args(optional_args, hostname, "eAPI TLS certificate")
        ca_file = args.pop("ca_file", None)
        super().__init__(hostname, username, password, timeout=timeout, optional_args=args)
        if self.transport == "http" and not insecure:
            raise ConnectionException(f"{hostname}: eAPI over plain HTTP sends the login unencrypted and cannot "
                                      f"verify the switch: use transport https, or set {OPT_OUT}: true")
        if self.transport == "https" and "context" not in self.eapi_kwargs:
            self.eapi_kwargs["context"] = tls_context(ca_file, insecure)

    def open(self) -> None:
        port = self.eapi_kwargs.get("port") or 443
        with certificate_trusted(self.hostname, "eAPI", f"{self.hostname}:{port}",
                                 "set ca_file to the CA that signed it", (PyeapiConnectionError, ConnectionException)):
            super().open()

    def _vxlan_output(self, command: str) -> object:
        if self.transport == "ssh":
            # NAPALM's own ssh path turns non-JSON answers into {}: keep the text, it says why
            return self._netmiko_device.send_command(f"{command} | json")
        try:
            return self._run_commands([command])[0]
        except CommandError as error:
            # e.g. "Interface does not exist" for `show interfaces vxlan 1` on a non-VTEP
            return rejected(error.command_error or error.error_text)

    def get_vxlan_vnis(self) -> VniTable:
        return parser.get_vxlan_vnis(self._vxlan_reply)

    def get_vxlan_vteps(self) -> VtepTable:
        return parser.get_vxlan_vteps(self._vxlan_reply)


def tls_context(ca_file: str | None, insecure: bool) -> ssl.SSLContext:
    """What pyeapi's HTTPS connection uses: certificate and host name checked unless `insecure`."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)
