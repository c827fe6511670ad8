"""NAPALM's EOS driver plus the VXLAN getters (eAPI JSON, or `| json` over SSH)."""

from __future__ import annotations

from napalm.eos import EOSDriver
from pyeapi.eapilib import CommandError

from vxauto.deploy.drivers._vxlan import VxlanReplies, rejected
from vxauto.validate.models import VniTable, VtepTable
from vxauto.validate.parsers import eos as parser


class VxautoEOSDriver(VxlanReplies, EOSDriver):
    """`napalm.eos.EOSDriver` with `get_vxlan_vnis()` and `get_vxlan_vteps()`."""

    vxlan_platform = parser.PLATFORM

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
