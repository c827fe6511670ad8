"""The Linux/FRR driver is a NAPALM driver: found by name, and its methods keep NetworkDriver's signatures.

`test_method_signatures` is NAPALM's own check (napalm/base/test/getters.py, BaseTestGetters): every
public method must have the base class's argument spec. vxauto's VXLAN getters (the `FrrVxlanGetters` mixin)
are the only methods the base class does not have; they follow vxauto's contract instead. NAPALM's own test
runs unchanged in tests/napalm_frr/.
"""

from __future__ import annotations

import inspect
from typing import get_type_hints

import napalm
from napalm.base import NetworkDriver

from vxauto.devices.napalm_frr.driver import FrrDriver
from vxauto.devices.napalm_frr.getters_vxlan import VXLAN_GETTERS, FrrVxlanGetters


def test_napalm_finds_the_driver_by_platform_name() -> None:
    assert napalm.get_network_driver("frr") is FrrDriver
    assert issubclass(FrrDriver, NetworkDriver)


def test_method_signatures() -> None:
    device = FrrDriver(hostname="test", username="admin", password="pwd")  # no connection is made
    errors = {}
    for name, method in inspect.getmembers(device):
        if name.startswith("_") or not inspect.ismethod(method) or name in VXLAN_GETTERS:
            continue
        base = getattr(NetworkDriver, name, None)
        expected = inspect.getfullargspec(base)[:4] if base is not None else "not in napalm.base"
        if inspect.getfullargspec(method)[:4] != expected:
            errors[name] = (expected, inspect.getfullargspec(method)[:4])
    if inspect.getfullargspec(NetworkDriver.__init__)[:4] != inspect.getfullargspec(FrrDriver.__init__)[:4]:
        errors["__init__"] = "differs"
    assert not errors, errors


def test_the_driver_implements_what_deploy_and_validate_use() -> None:
    used = ["open", "close", "is_alive", "get_facts", "get_interfaces", "get_interfaces_ip", "get_bgp_neighbors",
            "get_lldp_neighbors", "get_mac_address_table", "get_config", "load_replace_candidate",
            "load_merge_candidate", "compare_config", "commit_config", "confirm_commit", "has_pending_commit",
            "discard_config", "rollback",
            # issue 14: what a Linux/FRR box can answer besides
            "get_arp_table", "get_ipv6_neighbors_table", "get_route_to", "get_vlans", "get_network_instances",
            "get_bgp_neighbors_detail", "get_bgp_config", "get_lldp_neighbors_detail", "get_interfaces_counters",
            "get_users", "get_ntp_servers", "get_environment", "cli", "ping", "traceroute"]
    for name in used:
        assert getattr(FrrDriver, name) is not getattr(NetworkDriver, name), f"{name} is NetworkDriver's stub"


def test_vxlan_getters_follow_the_vxauto_contract() -> None:
    assert issubclass(FrrDriver, FrrVxlanGetters)
    for name, returns in VXLAN_GETTERS.items():
        method = getattr(FrrDriver, name)
        assert list(inspect.signature(method).parameters) == ["self"]
        assert get_type_hints(method)["return"] == returns


def test_a_closed_driver_is_not_alive_and_says_so() -> None:
    device = FrrDriver("192.0.2.1", "root", "", optional_args={"known_hosts": "/nonexistent"})
    assert device.is_alive() == {"is_alive": False}
