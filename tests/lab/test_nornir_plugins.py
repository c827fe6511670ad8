"""The inventory works with plain Nornir tasks from the ecosystem: nornir_netmiko's `netmiko_send_command` and
nornir_napalm's `napalm_get`, on the evpn-frr lab brought up with the configs rendered from inventory/.

inventory/groups.yaml gives each connection plugin its own platform (`connection_options: netmiko: platform:
linux`, `napalm: platform: frr`); the hosts' `platform: frr` is vxauto's name and no Netmiko device_type. The
test adds only what the lab owns (the SSH key, its known_hosts, the node's FRR pathspace) per host, with no
platform, so the platforms the tasks use can only come from groups.yaml. Host keys are checked against the
lab's known_hosts throughout.

Control in the same run: the same host with its per-plugin platform taken away fails before connecting with
Netmiko's "Unsupported 'device_type'", which is what `platform: frr` alone did.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from napalm.base import models
from napalm.base.test.helpers import test_model as fits_model
from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.inventory import ConnectionOptions
from nornir_napalm.plugins.tasks import napalm_cli, napalm_get
from nornir_netmiko.tasks import netmiko_send_command

from tests.conftest import DEMO_INVENTORY
from tests.lab.conftest import CONTAINERLAB, needs_lab_machine, rendered_lab
from vxauto.lab import api

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

TOPOLOGY = CONTAINERLAB / "evpn-frr.clab.yml"
ROUTERS = ("spine1", "spine2", "leaf1", "leaf2", "leaf3", "leaf4")


def lab_credentials(nornir: Nornir, lab: api.Lab) -> None:
    """Per host: what only the running lab knows. No `platform` here: that must come from groups.yaml."""
    for name, host in nornir.inventory.hosts.items():
        ssh = lab.ssh_options(name)
        host.connection_options["netmiko"] = ConnectionOptions(extras={
            "use_keys": True, "key_file": ssh["key_file"], "allow_agent": False,
            "ssh_strict": True, "system_host_keys": False, "alt_host_keys": True, "alt_key_file": ssh["known_hosts"],
        })
        optional: dict[str, object] = {"key_file": ssh["key_file"], "known_hosts": ssh["known_hosts"]}
        if lab.node(name).role == "frr":
            optional["vtysh_pathspace"] = ssh["namespace"]  # the lab names a node's FRR pathspace after its netns
        else:
            optional["frr"] = False
        host.connection_options["napalm"] = ConnectionOptions(extras={"optional_args": optional})


def wait_for_installed_route(lab: api.Lab, node: str, prefix: str, timeout: float = 60) -> None:
    """Readiness signal: zebra on `node` has installed `prefix` (bgpd hands routes to zebra after the session
    is up, End-of-RIB included, so neither says the kernel has the route yet)."""
    deadline = time.monotonic() + timeout
    while True:
        routes = json.loads(lab.vtysh(node, f"show ip route {prefix} json") or "{}").get(prefix) or []
        if any(route.get("installed") for route in routes):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{node}: zebra has not installed {prefix} within {timeout:.0f}s")
        time.sleep(0.2)


def inventory_nornir(inventory: Path) -> Nornir:
    return InitNornir(
        inventory={"plugin": "VxautoInventory", "options": {"directory": str(inventory)}},
        runner={"plugin": "threaded", "options": {"num_workers": 5}},
        logging={"enabled": False},
    )


def test_netmiko_and_napalm_tasks_run_on_the_lab_inventory(tmp_path: Path) -> None:
    nornir = inventory_nornir(DEMO_INVENTORY)
    assert {host.platform for host in nornir.inventory.hosts.values()} == {"frr", "linux"}
    for name, host in nornir.inventory.hosts.items():
        assert host.get_connection_parameters("netmiko").platform == "linux", name
        assert host.get_connection_parameters("napalm").platform == "frr", name
    with rendered_lab(DEMO_INVENTORY, TOPOLOGY, tmp_path) as lab:
        lab_credentials(nornir, lab)
        lab.wait_bgp(timeout=90)
        try:
            shell = nornir.run(task=netmiko_send_command, command_string="ip -j addr show dev lo; hostname")
            assert not shell.failed, {name: str(result.exception) for name, result in shell.failed_hosts.items()}
            for name, result in shell.items():
                addresses, _, last = result.result.strip().rpartition("\n")
                assert last.strip() == name, result.result
                assert json.loads(addresses)[0]["ifname"] == "lo", result.result
            routers = nornir.filter(filter_func=lambda host: host.name in ROUTERS)
            vtysh = routers.run(task=netmiko_send_command, command_string="vtysh -N $(ip netns identify) -c "
                                "'show bgp summary json'")
            assert not vtysh.failed
            for name, result in vtysh.items():
                peers = json.loads(result.result)["ipv4Unicast"]["peers"]
                assert peers and all(peer["state"] == "Established" for peer in peers.values()), name

            got = nornir.run(task=napalm_get, getters=["facts", "interfaces_ip", "bgp_neighbors"])
            assert not got.failed, {name: str(result.exception) for name, result in got.failed_hosts.items()}
            for name, result in got.items():
                facts = result.result["facts"]
                assert fits_model(models.FactsDict, facts)
                assert facts["hostname"] == name
                assert facts["vendor"] == ("FRRouting" if name in ROUTERS else "Linux")
                management = nornir.inventory.hosts[name].hostname
                assert result.result["interfaces_ip"]["eth0"]["ipv4"] == {management: {"prefix_length": 24}}
            leaf1 = got["leaf1"].result["bgp_neighbors"]["global"]["peers"]
            assert sorted(leaf1) == ["10.1.1.0", "10.2.1.0"]
            assert all(peer["is_up"] and "l2vpn_evpn" in peer["address_family"] for peer in leaf1.values())
            assert got["h1"].result["bgp_neighbors"] == {}

            # the getters issue 14 added, live through the same plugin
            wait_for_installed_route(lab, "leaf1", "10.0.0.1/32")
            more = routers.run(task=napalm_get, getters=["arp_table", "bgp_neighbors_detail", "route_to",
                                                         "interfaces_counters"],
                               getters_options={"route_to": {"destination": "10.0.0.1/32", "protocol": "bgp"}})
            assert not more.failed, {name: str(result.exception) for name, result in more.failed_hosts.items()}
            leaf = more["leaf1"].result
            assert {"10.1.1.0", "10.2.1.0"} <= {entry["ip"] for entry in leaf["arp_table"]}
            assert sorted(p["remote_address"] for p in leaf["bgp_neighbors_detail"]["global"][65000]) == [
                "10.1.1.0", "10.2.1.0"]
            # spine1's own loopback, from spine1 directly
            assert [(r["protocol"], r["next_hop"], r["outgoing_interface"]) for r in leaf["route_to"]["10.0.0.1/32"]
                    if r["current_active"]] == [("bgp", "10.1.1.0", "eth1")]
            assert leaf["interfaces_counters"]["eth1"]["rx_octets"] > 0
            shell = routers.run(task=napalm_cli, commands=["hostname"])
            assert {name: result.result["hostname"].strip() for name, result in shell.items()} == {
                name: name for name in ROUTERS}

            # control: the same host and credentials, the per-plugin platform gone -> Netmiko refuses `frr`
            bare = nornir.filter(name="leaf1")
            host = bare.inventory.hosts["leaf1"]
            host.close_connections()
            # Nornir writes the inherited values into the host's own ConnectionOptions: start from fresh ones
            host.connection_options["netmiko"] = ConnectionOptions(extras=host.connection_options["netmiko"].extras)
            host.groups[0].connection_options.pop("netmiko")
            assert host.get_connection_parameters("netmiko").platform == "frr"
            refused = bare.run(task=netmiko_send_command, command_string="hostname")
            assert refused.failed
            assert "Unsupported 'device_type'" in str(refused["leaf1"].exception)
        finally:
            nornir.close_connections()
