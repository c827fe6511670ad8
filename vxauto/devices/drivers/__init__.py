"""NAPALM driver subclasses that add the VXLAN getters (`get_vxlan_vnis`, `get_vxlan_vteps`).

`VXLAN_DRIVERS` maps NAPALM's driver names to the vxauto subclass used instead (the table is
`vxauto.devices.registry.VXLAN_SUBCLASSES`; importing this package imports every vendor library, so
code that opens one device asks `registry.driver_class` instead). The FRR/Linux driver (`napalm_frr`)
implements the same two getters with `vxauto.devices.parsers.frr`.
"""

from __future__ import annotations

from napalm.base import NetworkDriver

from vxauto.devices.drivers.eos import VxautoEOSDriver
from vxauto.devices.drivers.junos import VxautoJunOSDriver
from vxauto.devices.drivers.nxos import VxautoNXOSDriver, VxautoNXOSSSHDriver
from vxauto.devices.registry import VXLAN_SUBCLASSES, driver_class

VXLAN_DRIVERS: dict[str, type[NetworkDriver]] = {name: driver_class(name) for name in VXLAN_SUBCLASSES}

__all__ = ["VXLAN_DRIVERS", "VxautoEOSDriver", "VxautoJunOSDriver", "VxautoNXOSDriver", "VxautoNXOSSSHDriver"]
