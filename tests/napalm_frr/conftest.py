"""NAPALM's shared getter suite (napalm.base.test.getters.BaseTestGetters) for the Linux/FRR driver.

Set up as napalm's own drivers set it up (test/eos/conftest.py there): `set_device_parameters` gives the test
class the driver and a patched driver whose SSH session is `double.FakeSession`, and `pytest_generate_tests`
makes one test case per directory under mocked_data/test_<getter>/.

`test_method_signatures` is told about the VXLAN mixin: `NapalmFrrDriver` is `FrrDriver` with exactly the
mixin's methods (`vxlan.VXLAN_GETTERS`, vxauto's own contract, checked in tests/deploy/test_signatures.py)
taken out, so NAPALM's check runs unchanged over every other method.
"""

from __future__ import annotations

import pytest
from napalm.base.test import conftest as parent_conftest

from tests.napalm_frr.double import RECORDED_HOST, FakeSession
from vxauto.devices.napalm_frr.driver import FrrDriver
from vxauto.devices.napalm_frr.getters_vxlan import VXLAN_GETTERS


class NapalmFrrDriver(FrrDriver):
    """FrrDriver as NAPALM's suite sees it: without the VXLAN mixin's methods."""


for _getter in VXLAN_GETTERS:
    setattr(NapalmFrrDriver, _getter, None)


class PatchedFrrDriver(NapalmFrrDriver):
    """The driver with its SSH session replaced by the recorded answers (of the host they were recorded from)."""

    def __init__(self, hostname: str, username: str, password: str, timeout: int = 60,
                 optional_args: dict | None = None) -> None:
        super().__init__(RECORDED_HOST, username, password, timeout, optional_args)
        self.patched_attrs = ["_session"]
        self._session = FakeSession()

    def open(self) -> None:
        self._session = FakeSession()


@pytest.fixture(scope="class")
def set_device_parameters(request: pytest.FixtureRequest) -> None:
    def fin() -> None:
        request.cls.device.close()

    request.addfinalizer(fin)
    request.cls.driver = NapalmFrrDriver
    request.cls.patched_driver = PatchedFrrDriver
    request.cls.vendor = "frr"
    parent_conftest.set_device_parameters(request)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parent_conftest.pytest_generate_tests(metafunc, __file__)
