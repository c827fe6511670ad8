"""The vxauto drivers stay NAPALM drivers, and implement both VXLAN getters with the contract's types."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import napalm
import pytest
from napalm.base import NetworkDriver
from napalm.eos import EOSDriver
from napalm.junos import JunOSDriver
from napalm.nxos import NXOSDriver
from napalm.nxos_ssh import NXOSSSHDriver

from vxauto.devices.contract import VniTable, VtepTable
from vxauto.devices.drivers import VXLAN_DRIVERS

PARENTS = {"eos": EOSDriver, "nxos": NXOSDriver, "nxos_ssh": NXOSSSHDriver, "junos": JunOSDriver}


def test_every_napalm_platform_we_render_has_a_driver() -> None:
    assert set(VXLAN_DRIVERS) == set(PARENTS)


@pytest.mark.parametrize("name", sorted(PARENTS))
def test_driver_subclasses_the_napalm_driver(name: str) -> None:
    driver = VXLAN_DRIVERS[name]
    assert issubclass(driver, PARENTS[name])
    assert issubclass(driver, NetworkDriver)
    # the same class NAPALM hands out for the platform name, so nothing else changes for a user
    assert issubclass(driver, napalm.get_network_driver(name))


@pytest.mark.parametrize("name", sorted(PARENTS))
@pytest.mark.parametrize(("getter", "returns"), [("get_vxlan_vnis", VniTable), ("get_vxlan_vteps", VtepTable)])
def test_driver_implements_getter(name: str, getter: str, returns: object) -> None:
    driver = VXLAN_DRIVERS[name]
    method = getattr(driver, getter)
    assert getter in vars(driver), f"{driver.__name__} does not define {getter} itself"
    assert list(inspect.signature(method).parameters) == ["self"]
    assert get_type_hints(method)["return"] == returns


@pytest.mark.parametrize("name", sorted(PARENTS))
def test_driver_keeps_the_napalm_getters(name: str) -> None:
    """Adding getters must not shadow NAPALM's own (the base class's signature test idea)."""
    driver, parent = VXLAN_DRIVERS[name], PARENTS[name]
    for attribute, value in vars(parent).items():
        if attribute.startswith("get_") and callable(value):
            assert getattr(driver, attribute) is value, attribute
