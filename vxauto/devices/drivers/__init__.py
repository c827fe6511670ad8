"""NAPALM driver subclasses that add the VXLAN getters (`get_vxlan_vnis`, `get_vxlan_vteps`).

`VXLAN_DRIVERS` maps NAPALM's driver names to the vxauto subclass to use instead. The FRR/Linux
driver (`napalm_frr`) implements the same two getters with `vxauto.devices.parsers.frr`.
"""

from __future__ import annotations

from napalm.base import NetworkDriver

from vxauto.devices.drivers.eos import VxautoEOSDriver
from vxauto.devices.drivers.junos import VxautoJunOSDriver
from vxauto.devices.drivers.nxos import VxautoNXOSDriver, VxautoNXOSSSHDriver

VXLAN_DRIVERS: dict[str, type[NetworkDriver]] = {
    "eos": VxautoEOSDriver,
    "nxos": VxautoNXOSDriver,
    "nxos_ssh": VxautoNXOSSSHDriver,
    "junos": VxautoJunOSDriver,
}

__all__ = ["VXLAN_DRIVERS", "VxautoEOSDriver", "VxautoJunOSDriver", "VxautoNXOSDriver", "VxautoNXOSSSHDriver"]
