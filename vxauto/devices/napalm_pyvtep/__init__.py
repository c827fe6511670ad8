"""NAPALM driver for pyvtep, vxauto's Python software VTEP: `napalm.get_network_driver("pyvtep")` (via the
`napalm_pyvtep` shim).

- `driver.PyvtepDriver`: the NetworkDriver subclass (getters, VXLAN getters, pyvtep.yaml candidate/commit/rollback).
- `link`: the SSH session (the FRR driver's, host keys always checked) and the relay to pyvtep's API socket.
- `getters`: API replies in, NAPALM models and the VXLAN contract out (pure functions).
"""

from vxauto.devices.napalm_pyvtep.driver import PyvtepDriver

__all__ = ["PyvtepDriver"]
