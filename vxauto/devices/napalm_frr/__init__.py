"""NAPALM driver for Linux VTEPs running FRR: `napalm.get_network_driver("frr")` (via the `napalm_frr` shim).

- `driver.FrrDriver`: the NetworkDriver subclass (getters, candidate/commit/rollback, VXLAN getters).
- `remote`: the one SSH session (Paramiko, host keys always checked) and its framed `sh`.
- `bundle`: the configuration bundle (frr.conf + kernel part) that travels as one config text.
- `kernel_sync`: scripts and the running kernel read into the canonical kernel state, and the change planner.
- `frr_reload`: frr-reload.py's deltas as the FRR half of the diff.
- `change`: one reading of the device and what a commit would change.
- `device_scripts`: the shell run on the device (commit transaction, restore, commit-confirm timer).
- `parse_core`, `parse_more`: getter outputs in, NAPALM models out (pure functions);
  `getters_more`, `getters_vxlan`: the driver's mixins that run the commands for them.
"""

from vxauto.devices.napalm_frr.bundle import Bundle
from vxauto.devices.napalm_frr.driver import FrrDriver

__all__ = ["Bundle", "FrrDriver"]
