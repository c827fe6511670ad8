"""NAPALM driver for Linux VTEPs running FRR: `napalm.get_network_driver("frr")` (via the `napalm_frr` shim).

- `driver.FrrDriver`: the NetworkDriver subclass (getters, candidate/commit/rollback, VXLAN getters).
- `bundle`: the configuration bundle (frr.conf + kernel script) that travels as one config text.
- `kernel`: the canonical kernel state, the rendered-script reader and the change planner.
- `frr`: frr-reload.py's deltas as the FRR half of the diff.
"""

from vxauto.devices.napalm_frr.bundle import Bundle
from vxauto.devices.napalm_frr.driver import FrrDriver

__all__ = ["Bundle", "FrrDriver"]
