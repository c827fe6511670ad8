"""Multi-site borders (issue 16): the EOS EVPN gateway and the NX-OS VXLAN EVPN Multi-Site border gateway of
tests/fixtures/intents/multisite-vendors (dc1: EOS, border1; dc2: NX-OS, border2, site ID 20), their derived
facts and key lines, the EOS gateway lines compared with what Arista's own pyavd (eos_cli_config_gen) renders
from the same data, and the `vxauto check` refusals of intents the vendors' designs cannot carry.

The NX-OS border is also read back by Cisco's Ansible parsers in tests/render/test_vendor_parsers.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import edit
from vxauto.cli.main import app
from vxauto.model import load_fabric
from vxauto.model.facts import DeviceFacts, GatewayPeer
from vxauto.render import render_fabric

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "multisite-vendors"


@pytest.fixture(scope="module")
def configs() -> dict[str, str]:
    return {config.host: next(iter(config.files.values())) for config in render_fabric(load_fabric(FIXTURE))}


def paths(text: str) -> set[tuple[str, ...]]:
    """Every configuration line with the lines it is indented under: ("router bgp 1", "vlan 10", "rd ...")."""
    found: set[tuple[str, ...]] = set()
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("!"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, line))
        found.add(tuple(entry for _, entry in stack))
    return found


# --- derived facts ------------------------------------------------------------------------------------


def test_border_gateways_get_their_site_external_facts() -> None:
    fabric = load_fabric(FIXTURE)
    eos, nxos = fabric.device("border1").multisite, fabric.device("border2").multisite
    assert eos is not None and nxos is not None
    # each gateway peers with the other site's gateway, loopback (router ID) to loopback, over eBGP
    assert eos.peers == (GatewayPeer("border2", "dc2", "10.200.0.12", 65202),)
    assert nxos.peers == (GatewayPeer("border1", "dc1", "10.100.0.12", 65102),)
    assert (eos.design, eos.update_source, eos.multihop) == ("evpn-gateway", "Loopback0", 15)
    assert (nxos.design, nxos.update_source, nxos.multihop) == ("multisite-bgw", "loopback0", 5)
    assert (eos.dci_interfaces, eos.fabric_interfaces) == (("Ethernet2",), ("Ethernet1",))
    assert (nxos.dci_interfaces, nxos.fabric_interfaces) == (("Ethernet1/2",), ("Ethernet1/1",))
    # site ID: dc1 has none (its position, 1), dc2 says 20; the virtual IP sits on a loopback of its own
    assert (eos.site_id, nxos.site_id) == (1, 20)
    assert (nxos.vip, nxos.vip_interface) == ("10.200.0.100", "loopback100")
    border2 = fabric.device("border2")
    assert nxos.vip_interface not in (border2.vtep_interface, border2.router_id_interface)
    # dc1 overrides web's RT inside the site; the gateway's remote domain keeps the fabric-wide one
    web = next(s for s in fabric.device("border1").segments if s.name == "web")
    assert (web.route_target, eos.remote_route_target("web")) == ("65001:10010", "65000:10010")
    assert next(s for s in fabric.device("leaf1").segments if s.name == "web").route_target == "65001:10010"
    assert next(s for s in fabric.device("leaf2").segments if s.name == "web").route_target == "65000:10010"
    # the DCI link carries the underlay only; EVPN crosses it on the gateways' loopback sessions
    dci = [n for n in fabric.device("border1").bgp_neighbors if n.name == "border2"]
    assert dci and not dci[0].evpn
    others: list[DeviceFacts] = [fabric.device(name) for name in ("spine1", "leaf1", "spine2", "leaf2")]
    assert all(device.multisite is None and device.gateway_peers == () for device in others)


# --- rendered lines -----------------------------------------------------------------------------------


def test_eos_gateway_lines(configs: dict[str, str]) -> None:
    bgp = ("router bgp 65102",)
    lines = paths(configs["border1"])
    assert {
        (*bgp, "neighbor EVPN-OVERLAY-CORE update-source Loopback0"),
        (*bgp, "neighbor EVPN-OVERLAY-CORE ebgp-multihop 15"),
        (*bgp, "neighbor 10.200.0.12 peer group EVPN-OVERLAY-CORE"),
        (*bgp, "neighbor 10.200.0.12 remote-as 65202"),
        (*bgp, "vlan 10", "rd evpn domain remote 10.100.0.12:10"),
        (*bgp, "vlan 10", "route-target import 65001:10010"),
        (*bgp, "vlan 10", "route-target import export evpn domain remote 65000:10010"),
        (*bgp, "vlan 20", "route-target import export evpn domain remote 65000:10020"),
        (*bgp, "address-family evpn", "neighbor EVPN-OVERLAY-CORE activate"),
        (*bgp, "address-family evpn", "neighbor EVPN-OVERLAY-CORE domain remote"),
        (*bgp, "address-family evpn", "neighbor default next-hop-self received-evpn-routes route-type ip-prefix "
                                      "inter-domain"),
    } <= lines
    assert "Arista AVD eos_designs evpn_gateway (\"EVPN Multi-Domain Gateway\"" in configs["border1"]  # its document
    for name in ("leaf1", "spine1"):  # no gateway lines on the other EOS hosts
        assert "domain remote" not in configs[name] and "EVPN-OVERLAY-CORE" not in configs[name]


def test_nxos_border_gateway_lines(configs: dict[str, str]) -> None:
    lines = paths(configs["border2"])
    bgp, peer = ("router bgp 65202",), ("router bgp 65202", "neighbor 10.100.0.12")
    assert {
        ("evpn multisite border-gateway 20",),
        ("evpn multisite border-gateway 20", "delay-restore time 300"),
        ("interface loopback100", "ip address 10.200.0.100/32"),
        ("interface nve1", "source-interface loopback1"),
        ("interface nve1", "multisite border-gateway interface loopback100"),
        ("interface nve1", "member vni 10010", "multisite ingress-replication"),
        ("interface Ethernet1/1", "evpn multisite fabric-tracking"),
        ("interface Ethernet1/2", "evpn multisite dci-tracking"),
        (*bgp, "address-family ipv4 unicast", "network 10.200.0.100/32"),
        (*peer, "remote-as 65102"),
        (*peer, "update-source loopback0"),
        (*peer, "ebgp-multihop 5"),
        (*peer, "peer-type fabric-external"),
        (*peer, "address-family l2vpn evpn", "send-community extended"),
        (*peer, "address-family l2vpn evpn", "rewrite-evpn-rt-asn"),
    } <= lines
    # the BGW re-originates toward the other site with its virtual IP: no next-hop-unchanged map there
    assert not any(path[:2] == peer and "route-map" in path[-1] for path in lines)
    assert ("interface nve1", "member vni 50001 associate-vrf", "multisite ingress-replication") not in lines
    assert 'chapter "Configuring VXLAN EVPN Multi-Site"' in configs["border2"]
    for name in ("leaf2", "spine2"):
        assert "evpn multisite" not in configs[name] and "multisite border-gateway" not in configs[name]


def test_eos_gateway_lines_equal_what_pyavd_renders(configs: dict[str, str]) -> None:
    """Arista's pyavd renders the same gateway from the same data (its eos_cli_config_gen structured config,
    as AVD's eos_designs `evpn_gateway` produces it: peer group EVPN-OVERLAY-CORE, rd_evpn_domain,
    import_export_evpn_domains, domain_remote, next_hop_self_received_evpn_routes)."""
    pyavd = pytest.importorskip("pyavd")
    device = load_fabric(FIXTURE).device("border1")
    gateway = device.multisite
    assert gateway is not None
    structured = {"router_bgp": {
        "as": str(device.asn), "router_id": device.router_id,
        "peer_groups": [{"name": "EVPN-OVERLAY-CORE", "update_source": gateway.update_source,
                         "ebgp_multihop": gateway.multihop, "send_community": "all"}],
        "neighbors": [{"ip_address": p.ip, "peer_group": "EVPN-OVERLAY-CORE", "remote_as": str(p.asn),
                       "description": p.name} for p in gateway.peers],
        "vlans": [{"id": s.vlan, "rd": s.route_distinguisher,
                   "rd_evpn_domain": {"domain": "remote", "rd": s.route_distinguisher},
                   "route_targets": {"import": [s.route_target], "export": [s.route_target],
                                     "import_export_evpn_domains": [
                                         {"domain": "remote", "route_target": gateway.remote_route_target(s.name)}]},
                   "redistribute_routes": ["learned"]} for s in device.evpn_segments],
        "address_family_evpn": {
            "peer_groups": [{"name": "EVPN-OVERLAY-CORE", "activate": True, "domain_remote": True}],
            "neighbor_default": {"next_hop_self_received_evpn_routes": {"enable": True, "inter_domain": True}}},
    }}
    validated = pyavd.validate_structured_config(structured)
    assert not validated.validation_result.violations
    theirs = {path for path in paths(pyavd.get_device_config(validated.validated_data))
              if path[0].startswith("router bgp")}
    ours = paths(configs["border1"])
    assert len(theirs) > 20 and theirs <= ours, sorted(theirs - ours)
    gateway_words = ("EVPN-OVERLAY-CORE", "domain remote", "received-evpn-routes", gateway.peers[0].ip)
    ours_gateway = {path for path in ours if any(word in path[-1] for word in gateway_words)}
    assert ours_gateway and ours_gateway <= theirs, sorted(ours_gateway - theirs)


# --- check refusals -----------------------------------------------------------------------------------


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(FIXTURE, target)
    return target



REFUSALS = [
    ("border on a platform without a design", "groups.yaml", "nxos-leaves: {platform: nxos",
     "nxos-leaves: {platform: junos", "sites[1].borders[0]", "platform junos of border2 cannot be a border"),
    ("nxos site id out of range", "fabric.yaml", "    id: 20", "    id: 281474976710656",
     "sites[1].id", "NX-OS takes a Multi-Site site ID of 1-281474976710655"),
    ("gateway router ID secondary on the VTEP loopback", "hosts.yaml", "{interface: Loopback1, ip: 10.100.1.12}",
     "{interface: Loopback0, ip: 10.100.1.12}", "border1.data.vtep.interface",
     "is a secondary address of its VTEP interface"),
    ("nxos site ID of another site", "fabric.yaml", "    id: 20", "    id: 1",
     "sites[1].id", "site ID 1 is also the ID of sites[0]"),
    ("nxos site without virtual IP", "fabric.yaml", "    border_vip: 10.200.0.100\n", "",
     "sites[1]", "needs the site's border_vip"),
    ("virtual IP is the NVE source", "fabric.yaml", "border_vip: 10.200.0.100", "border_vip: 10.200.1.12",
     "sites[1].border_vip", "distinct from the NVE source"),
    ("gateways share an ASN", "hosts.yaml", "    asn: 65202", "    asn: 65102",
     "sites[1].borders[0]", "the site-external EVPN session between gateways is eBGP"),
    ("two EOS gateways in a site", "fabric.yaml", "borders: [border1]", "borders: [border1, leaf1]",
     "sites[0].borders", "all-active multihoming"),
    ("gateway does not carry a spanning segment", "fabric.yaml", "    attach: all\n",
     "    attach: {hosts: [leaf1, leaf2]}\n", "segments[0].attach", "border border1 (EVPN gateway"),
    ("gateway border that is no VTEP", "fabric.yaml", "borders: [border1]", "borders: [border1, spine1]",
     "sites[0].borders[1]", "border spine1 needs role leaf and data.vtep"),
    ("gateway facing a relaying border", "groups.yaml", "nxos-leaves: {platform: nxos",
     "nxos-leaves: {platform: frr", "border1.data.underlay[1].peer", "both ends of a DCI link must re-originate"),
    ("per-site RT behind an NX-OS border", "fabric.yaml", "    border_vip: 10.200.0.100\n",
     "    border_vip: 10.200.0.100\n    route_targets: {web: \"65002:10010\"}\n",
     "sites[1].route_targets.web", "needs the borders to rewrite it"),
]


def test_the_two_site_vendor_intent_passes_check() -> None:
    """The positive control of the refusals below: the unedited intent (EOS gateway with a per-site RT in dc1,
    NX-OS BGW with site ID and virtual IP in dc2) is accepted."""
    result = CliRunner().invoke(app, ["check", "-i", str(FIXTURE)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_check_refuses_what_the_vendor_design_cannot_carry(case: tuple, inventory: Path) -> None:
    _, file, old, new, path, message = case
    edit(inventory, file, old, new)
    result = CliRunner().invoke(app, ["check", "-i", str(inventory)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert any(f": {path}:" in line and message in line for line in result.output.splitlines()), result.output


def test_relaying_borders_need_a_spine_on_the_dci_link(inventory: Path) -> None:
    """Two FRR border leaves would hold an underlay-only session across the DCI: refused. The multisite lab's
    FRR spines relaying across the DCI (containerlab/multisite) are the accepted form of the same design."""
    edit(inventory, "groups.yaml", "eos-leaves: {platform: eos", "eos-leaves: {platform: frr")
    edit(inventory, "groups.yaml", "nxos-leaves: {platform: nxos", "nxos-leaves: {platform: frr")
    edit(inventory, "fabric.yaml", "    border_vip: 10.200.0.100\n", "")
    edit(inventory, "fabric.yaml", '    route_targets: {web: "65001:10010"}\n', "")
    result = CliRunner().invoke(app, ["check", "-i", str(inventory)])
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if "border1.data.underlay[1].peer:" in line]
    assert "EVPN crosses a DCI link only with a spine at one end" in line
    lab = Path(__file__).resolve().parents[2] / "containerlab" / "multisite" / "inventory"
    assert CliRunner().invoke(app, ["check", "-i", str(lab)]).exit_code == 0
