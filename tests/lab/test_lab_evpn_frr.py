"""Done-when of issue 5 for evpn-frr: the demo fabric comes up in network namespaces with the configs vxauto
renders from inventory/, answers over SSH (Netmiko, host keys checked), establishes BGP EVPN, forwards
between hosts of a VNI across the fabric, and `down` leaves nothing behind.

The demo gives each host one access link per segment. Should it use 802.1Q trunks (eth1.10) again on a
kernel without CONFIG_VLAN_8021Q, the test runs it with the trunks split into access links
(tests/lab/variants.py) and says so in its id.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
import yaml
from netmiko import ConnectHandler
from pyroute2 import IPRoute

from tests.lab.conftest import (
    CONTAINERLAB,
    REPO,
    assert_gone,
    footprint,
    needs_lab_machine,
    reaches,
    rendered_lab,
)
from tests.lab.variants import vlan_free_variant
from vxauto.lab import api, netns
from vxauto.lab.sshkeys import LOGIN_USER

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

VXAUTO = str(Path(sys.executable).parent / "vxauto")


class EvpnLab:
    def __init__(self, lab: api.Lab, topology: Path, configs: Path, inventory: Path) -> None:
        self.lab, self.topology, self.configs, self.inventory = lab, topology, configs, inventory

    def address(self, host: str, segment: str) -> tuple[str, str]:
        """(interface, address) of a host's endpoint in a segment, from the inventory the configs came from."""
        data = yaml.safe_load((self.inventory / "hosts.yaml").read_text())[host]["data"]
        endpoint = next(e for e in data["endpoints"] if e["segment"] == segment)
        return endpoint["interface"], endpoint["ip"].split("/")[0]


def _demo_needs_vlans(inventory: Path) -> bool:
    """True when the inventory has 802.1Q trunks: a port with several segments or a dotted endpoint."""
    for host in yaml.safe_load((inventory / "hosts.yaml").read_text()).values():
        data = host.get("data") or {}
        if any("segments" in port for port in data.get("ports", [])):
            return True
        if any("." in endpoint["interface"] for endpoint in data.get("endpoints", [])):
            return True
    return False


DEMO_AS_IS = not (_demo_needs_vlans(REPO / "inventory") and "vlan" in netns.missing_link_kinds())


@pytest.fixture(scope="module", params=["demo" if DEMO_AS_IS else "demo-without-802.1Q-trunks"])
def evpn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvpnLab]:
    work = tmp_path_factory.mktemp("evpn-frr")
    if DEMO_AS_IS:
        topology, inventory = CONTAINERLAB / "evpn-frr.clab.yml", REPO / "inventory"
    else:
        inventory, topology = vlan_free_variant(REPO / "inventory", CONTAINERLAB / "evpn-frr.clab.yml", work)
    with rendered_lab(inventory, topology, work) as lab:
        yield EvpnLab(lab, topology, work / "configs", inventory)


def test_up_writes_a_containerlab_lab_directory(evpn: EvpnLab) -> None:
    lab = evpn.lab
    assert lab.lab_dir == evpn.topology.parent / "clab-evpn-frr"
    assert api.status(evpn.topology).state == "running"
    for name, node in lab.nodes.items():
        assert node.namespace == f"evpn-frr-{name}" and netns.netns_exists(node.namespace)
    nornir = yaml.safe_load(lab.nornir_inventory.read_text())
    inventory_hosts = yaml.safe_load((evpn.inventory / "hosts.yaml").read_text())
    assert {name: host["hostname"] for name, host in nornir.items()} == {
        name: host["hostname"] for name, host in inventory_hosts.items()
    }
    ansible = yaml.safe_load(lab.ansible_inventory.read_text())
    assert set(ansible["all"]["children"]["linux"]["hosts"]) == {f"clab-evpn-frr-{n}" for n in lab.nodes}
    assert len(lab.known_hosts.read_text().splitlines()) == len(lab.nodes)
    assert lab.key_file.stat().st_mode & 0o077 == 0  # the login key is private


def test_netmiko_reads_bgp_summary_through_vtysh_on_a_leaf(evpn: EvpnLab) -> None:
    evpn.lab.wait_bgp(timeout=60)
    with ConnectHandler(**evpn.lab.netmiko_params("leaf1")) as connection:
        assert "leaf1" in connection.find_prompt()  # the node's own hostname (its UTS namespace)
        summary = connection.send_command("vtysh -c 'show bgp summary'")
        as_json = json.loads(connection.send_command("vtysh -c 'show bgp summary json'"))
    assert "IPv4 Unicast Summary" in summary and "L2VPN EVPN Summary" in summary
    assert "spine1" in summary and "spine2" in summary
    for afi in ("ipv4Unicast", "l2VpnEvpn"):
        peers = as_json[afi]["peers"]
        assert len(peers) == 2 and {p["state"] for p in peers.values()} == {"Established"}, peers


def test_host_keys_are_checked(evpn: EvpnLab, tmp_path: Path) -> None:
    params = evpn.lab.netmiko_params("leaf1")
    entries = [line.split() for line in evpn.lab.known_hosts.read_text().splitlines()]
    leaf2_key = next(fields[1:] for fields in entries if "leaf2" in fields[0].split(","))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{params['host']} {' '.join(leaf2_key)}\n")  # leaf2's key claimed for leaf1's address
    with pytest.raises((paramiko.BadHostKeyException, paramiko.SSHException, ValueError)):
        ConnectHandler(**{**params, "alt_key_file": str(wrong)}).disconnect()
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises((paramiko.SSHException, ValueError)):
        ConnectHandler(**{**params, "alt_key_file": str(empty)}).disconnect()


def test_openssh_client_with_the_lab_ssh_config(evpn: EvpnLab) -> None:
    result = subprocess.run(
        ["ssh", "-F", str(evpn.lab.ssh_config), "-o", "BatchMode=yes", "leaf2",
         "hostname; vtysh -c 'show version'; for f in ~/.bashrc ~/.profile; do cat $f 2>/dev/null | wc -c; done"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "leaf2" and "FRRouting" in result.stdout
    # the machine's own start-up files of the login user are masked in the node (netns.MASKED_START_FILES)
    home = Path(pwd.getpwnam(LOGIN_USER).pw_dir)
    for name, seen in zip((".bashrc", ".profile"), result.stdout.splitlines()[-2:], strict=True):
        if (home / name).is_file() and (home / name).stat().st_size:  # something there to mask
            assert seen.strip() == "0", f"{home / name} is not masked in the node: {seen}"


@pytest.mark.parametrize(
    ("source", "target", "segment"),
    [("h1", "h2", "red-web"), ("h1", "h2", "red-db"), ("h3", "h4", "blue-web"), ("h4", "h3", "blue-db")],
)
def test_hosts_ping_within_a_vni_across_the_fabric(evpn: EvpnLab, source: str, target: str, segment: str) -> None:
    _, address = evpn.address(target, segment)
    assert reaches(evpn.lab, source, address), f"{source} cannot reach {target} in {segment}"


def test_evpn_installs_remote_vteps_and_macs(evpn: EvpnLab) -> None:
    assert reaches(evpn.lab, "h1", evpn.address("h2", "red-web")[1])
    fdb = evpn.lab.exec_in("leaf1", "bridge fdb show dev vxlan10010").stdout
    # type-3 routes -> flood entries towards every other VTEP of red-web; type-2 -> h2's MAC behind leaf2
    for vtep in ("10.0.0.12", "10.0.0.13", "10.0.0.14"):
        assert f"00:00:00:00:00:00 dst {vtep} self permanent" in fdb, fdb
    assert any("dst 10.0.0.12" in line and "extern_learn" in line for line in fdb.splitlines()), fdb


def test_segments_are_isolated(evpn: EvpnLab) -> None:
    """An address of red-web's subnet put into blue-web (another VNI) is not reachable from red-web. The
    positive control: in the same test h1 reaches h2 over red-web, so its silence means something."""
    assert reaches(evpn.lab, "h1", evpn.address("h2", "red-web")[1]), "positive control: h1 cannot reach h2"
    interface, _ = evpn.address("h3", "blue-web")
    added = evpn.lab.exec_in("h3", f"ip addr add 10.10.10.203/24 dev {interface}")
    assert added.returncode == 0, added.stderr
    try:
        assert evpn.lab.exec_in("h1", "ping -c 2 -W 1 10.10.10.203").returncode != 0
    finally:
        evpn.lab.exec_in("h3", f"ip addr del 10.10.10.203/24 dev {interface}")


def test_second_up_is_a_no_op(evpn: EvpnLab) -> None:
    before = footprint(evpn.lab)
    pids = {name: dict(node.pids) for name, node in evpn.lab.nodes.items()}
    known_hosts = evpn.lab.known_hosts.read_text()
    result = subprocess.run([VXAUTO, "lab", "up", str(evpn.topology), "--configs", str(evpn.configs),
                             "--runtime", "netns"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stderr
    again = api.up(evpn.topology, evpn.configs)
    assert {name: dict(node.pids) for name, node in again.nodes.items()} == pids
    assert footprint(again).pids == before.pids  # no new process
    assert again.known_hosts.read_text() == known_hosts
    with IPRoute() as ipr:  # one management veth per node, no duplicates
        aliases = [link.get_attr("IFLA_IFALIAS") for link in ipr.get_links()]
    assert aliases.count("vxauto lab evpn-frr") == len(evpn.lab.nodes) + 1  # + the bridge


def test_cli_exec_status_inspect(evpn: EvpnLab) -> None:
    topology = str(evpn.topology)
    ran = subprocess.run([VXAUTO, "lab", "exec", topology, "leaf3", "--", "vtysh", "-c", "show bgp summary json"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["ipv4Unicast"]["as"] == 65103
    failed = subprocess.run([VXAUTO, "lab", "exec", topology, "h1", "--", "sh", "-c", "exit 3"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 3
    status = subprocess.run([VXAUTO, "lab", "status", topology, "--json"], capture_output=True, text=True,
                            timeout=60, check=True)
    assert json.loads(status.stdout)["state"] == "running"
    inspect = subprocess.run([VXAUTO, "lab", "inspect", topology, "--json", "--runtime", "netns"],
                             capture_output=True, text=True, timeout=60, check=True)
    rows = {row["node"]: row for row in json.loads(inspect.stdout)["nodes"]}
    assert rows["leaf1"]["ipv4_address"] == "172.20.20.21/24" and rows["leaf1"]["state"] == "running"
    assert set(rows["leaf1"]["pids"]) == {"zebra", "staticd", "bgpd", "sshd"}


def test_down_removes_everything(evpn: EvpnLab) -> None:
    before = footprint(evpn.lab)
    assert before.pids  # there was something to remove
    result = subprocess.run([VXAUTO, "lab", "down", str(evpn.topology), "--runtime", "netns"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert_gone(before)
    assert api.status(evpn.topology).state == "down"
