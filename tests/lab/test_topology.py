"""containerlab topology files: the repo's topologies match their inventories; bad files fail clearly."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest

from tests.lab.conftest import CONTAINERLAB, cli
from vxauto.errors import VxautoError
from vxauto.lab.kinds import Role
from vxauto.lab.preflight import check_runnable
from vxauto.lab.state import state_path
from vxauto.lab.topology import Topology, load_topology
from vxauto.model.fabric import load_fabric

REPO_INVENTORY = CONTAINERLAB.parent / "inventory"


def expected_underlay_links(inventory: Path, name_of=lambda interface: interface) -> set[frozenset[str]]:
    """Every underlay link of the inventory as {"a:ifA", "b:ifB"} (interface names mapped to the topology's)."""
    fabric = load_fabric(inventory)
    links = set()
    for host in fabric.hosts.values():
        for link in host.data.underlay:
            network = ipaddress.ip_interface(link.ip).network
            back = next(u for u in fabric.hosts[link.peer].data.underlay
                        if u.peer == host.name and ipaddress.ip_interface(u.ip).network == network)
            links.add(frozenset({f"{host.name}:{name_of(link.interface)}", f"{link.peer}:{name_of(back.interface)}"}))
    return links


def assert_matches_inventory(topology: Topology, inventory: Path, name_of=lambda interface: interface) -> None:
    fabric = load_fabric(inventory)
    assert set(topology.nodes) == set(fabric.hosts)
    for name, host in fabric.hosts.items():
        assert topology.nodes[name].mgmt_ipv4 == host.hostname, name
    topology_links = {frozenset({str(link.a), str(link.b)}) for link in topology.links}
    underlay = expected_underlay_links(inventory, name_of)
    assert underlay <= topology_links
    # every other link joins a leaf access/trunk port to a host's endpoint interface (or its parent)
    for link in topology_links - underlay:
        ends = {end.split(":")[0]: end.split(":")[1] for end in link}
        leaf = next(n for n in ends if fabric.hosts[n].data.role == "leaf")
        host = next(n for n in ends if n != leaf)
        assert ends[leaf] in {name_of(p.interface) for p in fabric.hosts[leaf].data.ports}, link
        endpoint_ifs = {e.interface.split(".")[0] for e in fabric.hosts[host].data.endpoints}
        assert ends[host] in endpoint_ifs, link


def test_evpn_frr_is_the_demo_fabric_of_inventory() -> None:
    topology = load_topology(CONTAINERLAB / "evpn-frr.clab.yml")
    assert topology.name == "evpn-frr"
    assert str(topology.mgmt.subnet) == "172.20.20.0/24"
    assert_matches_inventory(topology, REPO_INVENTORY)
    roles = {name: node.role for name, node in topology.nodes.items()}
    assert roles == {**dict.fromkeys(["spine1", "spine2", "leaf1", "leaf2", "leaf3", "leaf4"], Role.FRR),
                     **dict.fromkeys(["h1", "h2", "h3", "h4"], Role.HOST)}
    assert {n.image for n in topology.nodes.values()} == {"quay.io/frrouting/frr:8.4.1",
                                                           "ghcr.io/hellt/network-multitool"}
    assert topology.lab_dir == CONTAINERLAB / "clab-evpn-frr"
    assert topology.namespace("leaf1") == "evpn-frr-leaf1"
    assert topology.long_name("leaf1") == "clab-evpn-frr-leaf1"
    check_runnable(topology)  # everything in it runs natively


def test_static_linux_matches_its_inventory() -> None:
    topology = load_topology(CONTAINERLAB / "static-linux.clab.yml")
    inventory = CONTAINERLAB / "static-linux" / "inventory"
    assert str(topology.mgmt.subnet) == "172.20.21.0/24"
    assert_matches_inventory(topology, inventory)
    fabric = load_fabric(inventory)
    assert {segment.flood or fabric.intent.fabric.flood for segment in fabric.intent.segments} == {"static"}
    for name in ("hv1", "hv2", "hv3"):  # the hypervisors are the VTEPs and run FRR for the underlay only
        assert topology.nodes[name].role is Role.FRR
        assert fabric.device(name).is_vtep and not fabric.device(name).evpn
    check_runnable(topology)


# --- bad files ----------------------------------------------------------------------------------------

GOOD = """\
name: vxt-bad
mgmt:
  ipv4-subnet: 172.20.39.0/24
topology:
  nodes:
    r1: {kind: linux, image: quay.io/frrouting/frr:8.4.1}
    r2: {kind: linux, image: quay.io/frrouting/frr:8.4.1}
    h1: {kind: linux, image: alpine}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["h1:eth1", "r1:eth2"]
"""

BAD_CASES = {
    "unknown node in link": (
        GOOD.replace('"r1:eth2"]', '"r9:eth2"]'),
        ["topology.links[1].endpoints[1]", ":11:", "unknown node 'r9'"],
    ),
    "interface used twice": (
        GOOD.replace('"h1:eth1", "r1:eth2"', '"h1:eth1", "r1:eth1"'),
        ["topology.links[1].endpoints[1]", ":11:", "interface used twice (first in topology.links[0])"],
    ),
    "subnet with a bad prefix": (
        GOOD.replace("172.20.39.0/24", "172.20.39.0/33"),
        ["mgmt.ipv4-subnet", ":3:", "not an IPv4 subnet"],
    ),
    "subnet with host bits": (
        GOOD.replace("172.20.39.0/24", "172.20.39.7/24"),
        ["mgmt.ipv4-subnet", ":3:", "has host bits set"],
    ),
    "public subnet": (
        GOOD.replace("172.20.39.0/24", "8.8.8.0/24"),
        ["mgmt.ipv4-subnet", ":3:", "private"],
    ),
    "YAML error": (
        GOOD.replace('["r1:eth1", "r2:eth1"]', '["r1:eth1", "r2:eth1"'),
        ["vxt-bad.clab.yml:11", "YAML error"],
    ),
    "missing startup-config": (
        GOOD.replace("r2: {kind: linux,", "r2: {kind: linux, startup-config: configs/r2.cfg,"),
        ["topology.nodes.r2.startup-config", ":7:", "startup-config file not found", "configs/r2.cfg"],
    ),
    "typo in a node key": (
        GOOD.replace("h1: {kind: linux,", "h1: {kind: linux, mgmt_ipv4: 172.20.39.5,"),
        ["topology.nodes.h1.mgmt_ipv4", ":8:", "unknown node key"],
    ),
    "management address outside the subnet": (
        GOOD.replace("h1: {kind: linux,", "h1: {kind: linux, mgmt-ipv4: 172.20.40.5,"),
        ["topology.nodes.h1.mgmt-ipv4", ":8:", "not a host address of the management subnet"],
    ),
    "eth0 in a link": (
        GOOD.replace('"h1:eth1", "r1:eth2"', '"h1:eth0", "r1:eth2"'),
        ["topology.links[1].endpoints[0]", "eth0 is the management interface"],
    ),
    "unknown kind": (
        GOOD.replace("h1: {kind: linux", "h1: {kind: linnux"),
        ["topology.nodes.h1.kind", ":8:", "unknown kind", "linux"],
    ),
    "kind frr, which containerlab does not have": (
        GOOD.replace("r1: {kind: linux", "r1: {kind: frr"),
        ["topology.nodes.r1.kind", ":6:", "containerlab has no kind frr: use kind linux with an FRR image"],
    ),
    "a node key containerlab dropped": (
        GOOD.replace("h1: {kind: linux,", "h1: {kind: linux, sandbox: alpine,"),
        ["topology.nodes.h1.sandbox", ":8:", "unknown node key", "containerlab's node settings"],
    ),
    "unknown link type": (
        GOOD.replace('- endpoints: ["r1:eth1", "r2:eth1"]', '- {type: tunnel, endpoints: ["r1:eth1", "r2:eth1"]}'),
        ["topology.links[0].type", "unknown link type", "macvlan"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_topology_names_key_and_line(case: str, tmp_path: Path) -> None:
    text, expected = BAD_CASES[case]
    file = tmp_path / "vxt-bad.clab.yml"
    file.write_text(text)
    with pytest.raises(VxautoError) as error:
        load_topology(file)
    message = str(error.value)
    for fragment in expected:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("case", ["unknown node in link", "interface used twice", "subnet with a bad prefix",
                                  "YAML error", "missing startup-config"])
def test_bad_topology_exits_2_and_creates_nothing(case: str, tmp_path: Path) -> None:
    text, expected = BAD_CASES[case]
    file = tmp_path / "vxt-bad.clab.yml"
    file.write_text(text)
    namespaces_before = sorted(Path("/run/netns").glob("vxt-bad*")) if Path("/run/netns").exists() else []
    code, output = cli("lab", "up", str(file), "--runtime", "netns")
    assert code == 2, output
    assert expected[0] in output
    assert "Traceback" not in output
    assert not (tmp_path / "clab-vxt-bad").exists()
    assert not state_path("vxt-bad").exists()
    assert (sorted(Path("/run/netns").glob("vxt-bad*")) if Path("/run/netns").exists() else []) == namespaces_before


def test_vendor_kind_lists_native_kinds(tmp_path: Path) -> None:
    file = tmp_path / "vxt-vendor.clab.yml"
    file.write_text(GOOD.replace("vxt-bad", "vxt-vendor").replace(
        "r2: {kind: linux, image: quay.io/frrouting/frr:8.4.1}", "r2: {kind: ceos, image: ceos:4.32.0.1F}"))
    with pytest.raises(VxautoError) as error:
        check_runnable(load_topology(file))
    message = str(error.value)
    assert "topology.nodes.r2.kind" in message
    assert "Docker and containerlab" in message
    assert "linux" in message.split("runs natively:")[1]
    code, output = cli("lab", "up", str(file), "--runtime", "netns")
    assert code == 2 and "kind ceos needs its vendor image" in output


def test_containerlab_settings_the_netns_runtime_cannot_honour_are_warned_once(tmp_path: Path) -> None:
    file = tmp_path / "vxt-settings.clab.yml"
    file.write_text(GOOD.replace("vxt-bad", "vxt-settings")
                    .replace("  ipv4-subnet: 172.20.39.0/24\n", "  ipv4-subnet: 172.20.39.0/24\n  mtu: 1400\n")
                    .replace("r1: {kind: linux,", "r1: {kind: linux, ports: [8080:80], cap-add: [NET_ADMIN],")
                    .replace("r2: {kind: linux,", "r2: {kind: linux, ports: [8081:80], memory: 1Gb,")
                    .replace("h1: {kind: linux,", "h1: {kind: linux, binds: [\"/etc/hostname:/etc/hostname:ro\"],")
                    + '    - {type: dummy, endpoint: {node: r1, interface: dummy1}}\n')
    topology = load_topology(file)  # containerlab accepts all of it, so the reader does too
    ignored = topology.netns_ignores
    assert [line for line in ignored if "does not honour ports " in line] == [
        f"{file}: the netns runtime does not honour ports (topology.nodes.r1, topology.nodes.r2); "
        "containerlab with Docker does"]
    for setting in ("cap-add (topology.nodes.r1)", "memory (topology.nodes.r2)", "mgmt mtu (mgmt.mtu)",
                    "binds onto /etc/hostname (topology.nodes.h1.binds[0])",
                    "dummy links (left out) (topology.links[2])"):
        assert any(setting in line for line in ignored), (setting, ignored)
    assert len(ignored) == 6 and len(topology.links) == 2  # one line per setting; the dummy link is left out
    # positive control: a topology using only what the runtime honours warns about nothing
    assert load_topology(CONTAINERLAB / "evpn-frr.clab.yml").netns_ignores == []


def test_netns_runtime_rejects_links_to_the_host_and_bad_interface_names(tmp_path: Path) -> None:
    file = tmp_path / "vxt-hostlink.clab.yml"
    file.write_text(GOOD.replace("vxt-bad", "vxt-hostlink")
                    .replace('"h1:eth1", "r1:eth2"', '"host:veth-lab", "r1:eth2"')
                    .replace('"r1:eth1", "r2:eth1"', '"r1:eth1", "r2:averyverylongname1"'))
    with pytest.raises(VxautoError) as error:
        check_runnable(load_topology(file))
    message = str(error.value)
    assert "topology.links[1].endpoints[0]" in message and "this machine's own network" in message
    assert "topology.links[0].endpoints[1]" in message and "not a Linux interface name" in message


# --- containerlab semantics ---------------------------------------------------------------------------


def test_inheritance_defaults_kinds_groups_nodes(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "r1.conf").write_text("hostname r1\n")
    (tmp_path / "configs" / "h2.conf").write_text("hostname h2\n")
    (tmp_path / "daemons").write_text("bgpd=yes\nospfd=yes\n")
    file = tmp_path / "vxt-inherit.clab.yml"
    file.write_text(textwrap.dedent("""\
        name: vxt-inherit
        mgmt: {ipv4-subnet: 172.20.38.0/24, ipv4-gw: 172.20.38.254}
        topology:
          defaults:
            env: {A: defaults, B: defaults}
            exec: ["echo defaults"]
          kinds:
            linux:
              image: quay.io/frrouting/frr:8.4.1
              startup-config: configs/__clabNodeName__.conf
              env: {B: kind}
              exec: ["echo kind"]
              binds: ["daemons:/etc/frr/daemons"]
          groups:
            hosts: {image: alpine:3, exec: ["echo group"]}
          nodes:
            r1: {kind: linux, mgmt-ipv4: 172.20.38.1, exec: ["echo node"]}
            h1: {kind: linux, group: hosts, startup-config: "hostname inline\\n!\\n"}
            h2: {kind: linux, group: hosts}
          links:
            - type: veth
              endpoints: [{node: r1, interface: eth1}, {node: h1, interface: eth1}]
              mtu: 1600
        """))
    topology = load_topology(file)
    r1, h1, h2 = (topology.nodes[n] for n in ("r1", "h1", "h2"))
    assert (r1.role, h1.role) == (Role.FRR, Role.HOST)  # the group's image wins over the kind's
    assert r1.exec == ["echo defaults", "echo kind", "echo node"]  # containerlab concatenates exec
    assert h1.exec == ["echo defaults", "echo kind", "echo group"]
    assert r1.env == {"A": "defaults", "B": "kind"}
    assert r1.startup_config == "hostname r1\n" and r1.startup_config_file == tmp_path / "configs" / "r1.conf"
    assert h1.startup_config == "hostname inline\n!\n"
    assert r1.bind_for("/etc/frr/daemons") is not None
    # explicit addresses are kept; the others get the lowest free ones, skipping the gateway
    assert (r1.mgmt_ipv4, h1.mgmt_ipv4) == ("172.20.38.1", "172.20.38.2")
    assert topology.mgmt.gateway == ipaddress.IPv4Address("172.20.38.254")
    assert [(str(link.a), str(link.b), link.mtu) for link in topology.links] == [("r1:eth1", "h1:eth1", 1600)]
    assert h2.startup_config_file == tmp_path / "configs" / "h2.conf"
