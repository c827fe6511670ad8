"""NAPALM's Junos driver plus the VXLAN getters (Junos JSON over NETCONF via PyEZ)."""

from __future__ import annotations

from jnpr.junos.exception import JSONLoadError, RpcError
from napalm.junos import JunOSDriver

from vxauto.deploy.drivers._vxlan import VxlanReplies, rejected
from vxauto.validate.models import VniTable, VtepTable
from vxauto.validate.parsers import junos as parser


class VxautoJunOSDriver(VxlanReplies, JunOSDriver):
    """`napalm.junos.JunOSDriver` with `get_vxlan_vnis()` and `get_vxlan_vteps()`."""

    vxlan_platform = parser.PLATFORM

    def _vxlan_output(self, command: str) -> object:
        try:
            # <command format="json">: the same document `| display json` prints
            return self.device.rpc.cli(command=command, format="json")
        except JSONLoadError as error:
            # PyEZ could not decode it (Junos 18.1's trailing commas): the parser repairs that
            return error.rpc_content
        except RpcError as error:
            return rejected(error)

    def get_vxlan_vnis(self) -> VniTable:
        return parser.get_vxlan_vnis(self._vxlan_reply)

    def get_vxlan_vteps(self) -> VtepTable:
        return parser.get_vxlan_vteps(self._vxlan_reply)
