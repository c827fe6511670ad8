"""vxauto's VXLAN getters of the Linux/FRR driver, apart from NAPALM's getters.

`FrrVxlanGetters` is a mixin of `FrrDriver` with the methods NetworkDriver does not have
(`VXLAN_GETTERS`): NAPALM's `test_method_signatures` is told about exactly these and checks every other
method against NetworkDriver (tests/napalm_frr/conftest.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vxauto.devices.contract import VniTable, VtepTable
from vxauto.devices.parsers import frr as vxlan_parser
from vxauto.devices.parsers import mobility as mac_parser
from vxauto.devices.parsers.mobility import VxlanMacTable
from vxauto.devices.parsers.replies import Reply

if TYPE_CHECKING:
    from vxauto.devices.napalm_frr.remote import Completed, Session

#: The methods this mixin adds to a NAPALM driver, and what they return (vxauto's contract).
VXLAN_GETTERS = {"get_vxlan_vnis": VniTable, "get_vxlan_vteps": VtepTable, "get_vxlan_macs": VxlanMacTable}


class FrrVxlanGetters:
    """`get_vxlan_vnis()` and `get_vxlan_vteps()` from `show evpn vni detail json`, `ip -j -d link` and the FDB."""

    if TYPE_CHECKING:
        hostname: str

        def _ssh(self) -> Session: ...
        def _frr_probe(self, *commands: str) -> str: ...
        def _frr_answer(self, result: Completed) -> str | None: ...

    def get_vxlan_vnis(self) -> VniTable:
        """The vxauto VXLAN getter (shape: `vxauto.devices.contract.VniInfo`)."""
        fetch, has_frr = self._vxlan_fetch()
        return vxlan_parser.get_vxlan_vnis(fetch, evpn=has_frr)

    def get_vxlan_vteps(self) -> VtepTable:
        """The vxauto VXLAN getter (shape: `vxauto.devices.contract.VtepInfo`)."""
        fetch, has_frr = self._vxlan_fetch()
        return vxlan_parser.get_vxlan_vteps(fetch, evpn=has_frr)

    def get_vxlan_macs(self) -> VxlanMacTable:
        """Where each MAC of each VNI is (FDB and EVPN): vxauto.devices.parsers.mobility."""
        fetch, has_frr = self._vxlan_fetch("show evpn mac vni all json", mac_parser.EVPN_MACS)
        return mac_parser.get_vxlan_macs(fetch, evpn=has_frr)

    def _vxlan_fetch(self, evpn_command: str = "show evpn vni detail json",
                     evpn_key: str = vxlan_parser.EVPN_VNI_DETAIL) -> tuple[Any, bool]:
        """One round trip for a parser's three commands (FRR's `evpn_command`, read by the parser as
        `evpn_key`, plus the links and the FDB); the parser then reads them from here."""
        results = self._ssh().batch({
            "evpn": self._frr_probe(evpn_command),
            "links": vxlan_parser.LINKS,
            "fdb": vxlan_parser.FDB,
        })
        evpn = self._frr_answer(results["evpn"])
        answers = {
            evpn_key: evpn or "",
            vxlan_parser.LINKS: results["links"].checked(self.hostname).stdout,
            vxlan_parser.FDB: results["fdb"].checked(self.hostname).stdout,
        }

        def fetch(command: str) -> Reply:
            return Reply(vxlan_parser.PLATFORM, command, answers[command], self.hostname)

        return fetch, evpn is not None
