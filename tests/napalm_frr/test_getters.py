"""NAPALM's own getter suite over the Linux/FRR driver, on answers recorded from the evpn-frr lab (record.py)."""

from __future__ import annotations

import inspect

import pytest
from napalm.base.test.getters import BaseTestGetters

from tests.napalm_frr.conftest import NapalmFrrDriver
from vxauto.devices.napalm_frr.driver import FrrDriver
from vxauto.devices.napalm_frr.getters_vxlan import VXLAN_GETTERS, FrrVxlanGetters


@pytest.mark.usefixtures("set_device_parameters")
class TestGetter(BaseTestGetters):
    """Test get_* methods."""

    @pytest.mark.skip(reason="no recording possible: the lab machine's kernel has no VRF devices (`ip link add "
                             "TEST type vrf` -> Unknown device type); get_arp_table(vrf=...) runs `ip neigh show "
                             "vrf NAME` on kernels that have them")
    def test_get_arp_table_with_vrf(self, test_case: str) -> None:
        """Replaces the suite's test of the same name (see the skip reason)."""


def test_only_the_vxlan_mixin_is_hidden_from_the_signature_check() -> None:
    hidden = {name for name, value in vars(NapalmFrrDriver).items() if value is None}
    assert hidden == set(VXLAN_GETTERS)
    for name in VXLAN_GETTERS:
        assert inspect.getattr_static(FrrDriver, name) is vars(FrrVxlanGetters)[name]
