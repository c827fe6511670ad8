"""NAPALM's discovery name for vxauto's Linux/FRR driver.

`napalm.get_network_driver("frr")` imports `napalm_frr` and takes the NetworkDriver subclass it finds
here; nornir-napalm does the same for hosts whose platform is `frr`. The driver lives in
`vxauto.devices.napalm_frr`.
"""

from vxauto.devices.napalm_frr.driver import FrrDriver

__all__ = ["FrrDriver"]
