"""NAPALM's discovery name for vxauto's pyvtep driver.

`napalm.get_network_driver("pyvtep")` imports `napalm_pyvtep` and takes the NetworkDriver subclass it finds
here; nornir-napalm does the same for hosts whose platform is `pyvtep`. The driver lives in
`vxauto.devices.napalm_pyvtep`.
"""

from vxauto.devices.napalm_pyvtep.driver import PyvtepDriver

__all__ = ["PyvtepDriver"]
