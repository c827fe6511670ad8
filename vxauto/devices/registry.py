"""One registry from a vxauto platform to the NAPALM driver class that manages it.

The platform record (`vxauto.model.platforms.Platform.napalm_driver`) names the NAPALM driver; this
module turns that name into a class: vxauto's subclasses for eos/nxos/junos (TLS certificates and SSH
host keys verified, VXLAN getters added) and its own pyvtep driver (`vxauto.devices.napalm_pyvtep`, also
reachable through NAPALM as the `napalm_pyvtep` shim), NAPALM's own lookup for every other name (`frr` is
the `napalm_frr` shim over `vxauto.devices.napalm_frr`). Deploy, validate and Ansible all ask here.

Vendor libraries (pyeapi, pynxos, junos-eznc, NAPALM itself) are imported only when a class is asked for:
commands that never open a device start without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vxauto.errors import VxautoError
from vxauto.model.platforms import PLATFORMS

if TYPE_CHECKING:
    from napalm.base import NetworkDriver

#: NAPALM driver name -> (module, class) of vxauto's subclass used instead of NAPALM's own driver.
VXLAN_SUBCLASSES: dict[str, tuple[str, str]] = {
    "eos": ("vxauto.devices.drivers.eos", "VxautoEOSDriver"),
    "nxos": ("vxauto.devices.drivers.nxos", "VxautoNXOSDriver"),
    "nxos_ssh": ("vxauto.devices.drivers.nxos", "VxautoNXOSSSHDriver"),
    "junos": ("vxauto.devices.drivers.junos", "VxautoJunOSDriver"),
}
#: NAPALM driver name -> (module, class) of a driver of vxauto's own for a platform NAPALM has none for (also
#: found by `napalm.get_network_driver` through its `napalm_<name>` shim, once the package is installed).
OWN_DRIVERS: dict[str, tuple[str, str]] = {
    "pyvtep": ("vxauto.devices.napalm_pyvtep.driver", "PyvtepDriver"),
}

#: The NAPALM driver whose configuration is a bundle (frr.conf plus the kernel's target state).
BUNDLE_DRIVER = "frr"
#: NAPALM drivers that log in over SSH with the inventory's key or password (checked before connecting).
SSH_DRIVERS = frozenset({"frr", "pyvtep"})


def deployable_platforms() -> list[str]:
    """The platforms a NAPALM driver manages (the others are render-only)."""
    return sorted(name for name, record in PLATFORMS.items() if record.napalm_driver)


def napalm_driver_name(platform: str) -> str | None:
    """The NAPALM driver name of a platform, None when it is render-only (or unknown)."""
    record = PLATFORMS.get(platform)
    return record.napalm_driver if record is not None else None


def napalm_driver_for(platform: str, host: str) -> str:
    """The NAPALM driver name of `host`'s platform; bad input (exit 2) when no driver manages it."""
    name = napalm_driver_name(platform)
    if name is None:
        raise VxautoError.single("hosts.yaml", f"{host}.platform", "no NAPALM driver deploys this platform "
                                 f"(deployable: {', '.join(deployable_platforms())}); render it with "
                                 "`vxauto render` and load it with the platform's own tools", platform)
    return name


def takes_bundle(platform: str) -> bool:
    """Whether the platform's driver loads a bundle (several files as one JSON text) instead of one file."""
    return napalm_driver_name(platform) == BUNDLE_DRIVER


def managed_file(platform: str) -> str | None:
    """The one rendered file the platform's driver loads when it renders several (None: all of them)."""
    record = PLATFORMS.get(platform)
    return record.napalm_file if record is not None else None


def driver_class(name: str) -> type[NetworkDriver]:
    """The class a NAPALM driver name opens: vxauto's subclass where there is one, NAPALM's lookup otherwise."""
    where = VXLAN_SUBCLASSES.get(name) or OWN_DRIVERS.get(name)
    if where is not None:
        module, attribute = where
        found: type[NetworkDriver] = getattr(importlib.import_module(module), attribute)
        return found
    import napalm

    return napalm.get_network_driver(name)
