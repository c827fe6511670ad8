"""inventory/groups.yaml names a platform per Nornir connection plugin: Netmiko has no device_type `frr`."""

from __future__ import annotations

import pytest
from netmiko import ConnectHandler

from tests.conftest import DEMO_INVENTORY
from vxauto.model.fabric import load_fabric
from vxauto.model.nornir_inventory import build_inventory


def test_each_plugin_gets_a_platform_it_knows() -> None:
    inventory = build_inventory(load_fabric(DEMO_INVENTORY))
    for name, host in inventory.hosts.items():
        assert host.platform in ("frr", "linux"), name  # vxauto's own platform name stays as it is
        assert host.get_connection_parameters("netmiko").platform == "linux", name
        assert host.get_connection_parameters("napalm").platform == "frr", name


def test_netmiko_refuses_the_vxauto_platform_name_before_connecting() -> None:
    # what a netmiko task did with `platform: frr` alone; 192.0.2.1 (TEST-NET-1) is never contacted
    with pytest.raises(ValueError, match="Unsupported 'device_type'"):
        ConnectHandler(device_type="frr", host="192.0.2.1", username="root", password="x")
