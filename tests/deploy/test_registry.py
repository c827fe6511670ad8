"""The one registry from platform to NAPALM driver (vxauto.devices.registry)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from napalm.base import NetworkDriver

from vxauto.devices import registry
from vxauto.errors import VxautoError
from vxauto.model.platforms import PLATFORMS


@pytest.mark.parametrize("platform", sorted(name for name, record in PLATFORMS.items() if record.napalm_driver))
def test_every_deployable_platform_opens_a_network_driver(platform: str) -> None:
    name = registry.napalm_driver_for(platform, "leaf1")
    assert name == PLATFORMS[platform].napalm_driver  # the platform record decides, nothing else
    assert issubclass(registry.driver_class(name), NetworkDriver)


def test_the_vendor_names_open_vxauto_subclasses() -> None:
    for name, (module, attribute) in registry.VXLAN_SUBCLASSES.items():
        found = registry.driver_class(name)
        assert (found.__module__, found.__name__) == (module, attribute)
        assert hasattr(found, "get_vxlan_vnis") and hasattr(found, "get_vxlan_vteps")


def test_pyvtep_opens_vxautos_own_driver_and_loads_only_its_pyvtep_yaml() -> None:
    for name, (module, attribute) in registry.OWN_DRIVERS.items():
        found = registry.driver_class(name)
        assert (found.__module__, found.__name__) == (module, attribute)
    assert registry.napalm_driver_for("pyvtep", "pv1") == "pyvtep"
    assert {name: registry.managed_file(name) for name in PLATFORMS if registry.managed_file(name)} == {
        "pyvtep": "pyvtep.yaml"}
    assert "pyvtep" in registry.SSH_DRIVERS and not registry.takes_bundle("pyvtep")


def test_a_render_only_platform_is_bad_input_naming_host_and_field() -> None:
    with pytest.raises(VxautoError) as caught:
        registry.napalm_driver_for("srlinux", "leaf9")
    (problem,) = caught.value.problems
    assert (problem.file, problem.path, problem.value) == ("hosts.yaml", "leaf9.platform", "srlinux")
    assert "deployable: eos, frr, junos, linux, nxos, pyvtep" in problem.message
    assert registry.deployable_platforms() == ["eos", "frr", "junos", "linux", "nxos", "pyvtep"]


def test_only_frr_and_linux_load_bundles() -> None:
    assert {name for name in PLATFORMS if registry.takes_bundle(name)} == {"frr", "linux"}


def test_the_registry_imports_no_driver_library() -> None:
    # positive control in the same child: asking for a class does import the vendor library
    code = ("import sys; from vxauto.devices import registry; before = {'napalm', 'pyeapi'} & set(sys.modules); "
            "registry.driver_class('eos'); print(sorted(before), sorted({'napalm', 'pyeapi'} & set(sys.modules)))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["[]", "['napalm',", "'pyeapi']"]
