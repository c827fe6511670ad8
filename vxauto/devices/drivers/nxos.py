"""NAPALM's NX-OS drivers (NX-API and SSH) plus the VXLAN getters.

NX-API returns the structured form directly. Over SSH the commands run with `| json native`;
`optional_args={"vxlan_output": "text"}` switches the SSH driver to the plain-text commands parsed
with ntc-templates (for releases without `json native`; see `parsers/nxos.py` for what that loses).

NX-API's TLS certificate is verified (NAPALM's default passes `ssl_verify=False` to requests):
`ssl_verify` is true (the system's CAs) or a CA bundle path; `insecure_skip_verify: true` (or an explicit
`ssl_verify: false`) turns the check off for that host, with a warning.
"""

from __future__ import annotations

from typing import Any

from napalm.nxapi_plumbing.errors import NXAPICommandError
from napalm.nxos import NXOSDriver
from napalm.nxos_ssh import NXOSSSHDriver

from vxauto.devices.contract import VniTable, VtepTable
from vxauto.devices.drivers._verify import certificate_trusted, verified_args, warn_insecure
from vxauto.devices.drivers._vxlan import VxlanReplies, rejected
from vxauto.devices.parsers import nxos as parser
from vxauto.errors import VxautoError

VXLAN_OUTPUTS = ("json", "text")


class VxautoNXOSDriver(VxlanReplies, NXOSDriver):
    """`napalm.nxos.NXOSDriver` (NX-API) with `get_vxlan_vnis()` and `get_vxlan_vteps()`."""

    vxlan_platform = parser.PLATFORM

    def __init__(
        self,
        hostname: str,
        username: str,
        password: str,
        timeout: int = 60,
        optional_args: dict[str, Any] | None = None,
    ) -> None:
        args, insecure = verified_args(optional_args, hostname, "NX-API TLS certificate")
        verify = args.get("ssl_verify", True)
        if verify is False and not insecure:
            warn_insecure(hostname, "NX-API TLS certificate", "ssl_verify: false")
        args["ssl_verify"] = False if insecure else verify
        super().__init__(hostname, username, password, timeout=timeout, optional_args=args)

    def open(self) -> None:
        # NAPALM's own error says only "Cannot connect to HOST"
        with certificate_trusted(self.hostname, "NX-API", f"{self.hostname}:{self.port}",
                                 "set ssl_verify to the CA bundle that signed it"):
            super().open()

    def _vxlan_output(self, command: str) -> object:
        try:
            return self._send_command(command)
        except NXAPICommandError as error:
            return rejected(error.message)

    def get_vxlan_vnis(self) -> VniTable:
        return parser.get_vxlan_vnis(self._vxlan_reply)

    def get_vxlan_vteps(self) -> VtepTable:
        return parser.get_vxlan_vteps(self._vxlan_reply)


class VxautoNXOSSSHDriver(VxlanReplies, NXOSSSHDriver):
    """`napalm.nxos_ssh.NXOSSSHDriver` with `get_vxlan_vnis()` and `get_vxlan_vteps()`."""

    vxlan_platform = parser.PLATFORM

    def __init__(
        self,
        hostname: str,
        username: str,
        password: str,
        timeout: int = 60,
        optional_args: dict[str, Any] | None = None,
    ) -> None:
        args = dict(optional_args or {})
        self.vxlan_output = str(args.pop("vxlan_output", "json"))
        if self.vxlan_output not in VXLAN_OUTPUTS:
            raise VxautoError.single("optional_args", "vxlan_output", f"must be one of {VXLAN_OUTPUTS}",
                                     self.vxlan_output)
        super().__init__(hostname, username, password, timeout=timeout, optional_args=args)

    def _vxlan_output(self, command: str) -> object:
        suffix = " | json native" if self.vxlan_output == "json" else ""
        return self._send_command(f"{command}{suffix}")

    def get_vxlan_vnis(self) -> VniTable:
        if self.vxlan_output == "text":
            return parser.get_vxlan_vnis_text(self._vxlan_reply)
        return parser.get_vxlan_vnis(self._vxlan_reply)

    def get_vxlan_vteps(self) -> VtepTable:
        if self.vxlan_output == "text":
            return parser.get_vxlan_vteps_text(self._vxlan_reply)
        return parser.get_vxlan_vteps(self._vxlan_reply)
