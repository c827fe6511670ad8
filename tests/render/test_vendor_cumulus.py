"""NVIDIA Cumulus Linux NVUE template (templates/cumulus/nvue.yaml.j2): render the vendor-cumulus fixture, load
the YAML back (rejecting duplicate keys, which PyYAML would silently merge), compare."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from vxauto.errors import VxautoError
from vxauto.model import load_fabric
from vxauto.render import render_fabric

if TYPE_CHECKING:  # the helpers live in conftest.py and reach the tests as fixtures
    from conftest import Parsed

PLATFORM = "cumulus"
# A segment on leaf1 only: a static segment without any other VTEP to flood to.
SOLO_SEGMENT = "segments:\n  - {name: solo, vlan: 50, vni: 10050, tenant: blue, attach: {hosts: [leaf1]}}\n"


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: a repeated key would silently drop configuration."""


def _unique_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = []
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        assert key not in seen, f"duplicate key {key!r} at line {key_node.start_mark.line + 1}"
        seen.append(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_nvue(text: str) -> dict[str, Any]:
    document = yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader
    assert isinstance(document, list) and len(document) == 1 and list(document[0]) == ["set"]
    config = document[0]["set"]
    assert_string_keys(config)
    return config


def assert_string_keys(node: Any, path: str = "") -> None:
    """NVUE object keys are strings: an unquoted VLAN, VNI or RT would arrive as a number."""
    if isinstance(node, dict):
        for key, value in node.items():
            assert isinstance(key, str), f"key {key!r} under {path or '/'} is {type(key).__name__}"
            assert_string_keys(value, f"{path}/{key}")


def parse_nvue(text: str, parsed: Parsed) -> Parsed:
    config = load_nvue(text)
    parsed.hostname = config["system"]["hostname"]
    svis: dict[int, dict] = {}
    for name, interface in config["interface"].items():
        kind = interface["type"]
        if kind in ("loopback", "swp") and "address" in interface.get("ip", {}):
            parsed.addresses[name] = set(interface["ip"]["address"])
            assert all(value == {} for value in interface["ip"]["address"].values())
        if kind == "swp" and "link" in interface:
            parsed.mtus[name] = interface["link"]["mtu"]
        if kind == "swp" and "bridge" in interface:
            domain = interface["bridge"]["domain"]["br_default"]
            if "access" in domain:
                parsed.ports[name] = (domain["access"], frozenset())
            else:
                untagged = None if domain["untagged"] == "none" else domain["untagged"]
                parsed.ports[name] = (untagged, frozenset(int(v) for v in domain["vlan"]) - {untagged})
        if kind == "svi":
            assert name == f"vlan{interface['vlan']}"
            svis[interface["vlan"]] = interface["ip"]
    for vlan, ip in svis.items():
        vrr = ip["vrr"]
        assert vrr["enable"] is True and vrr["state"] == {"up": {}}
        ((address, _),) = vrr["address"].items()
        parsed.gateways[vlan] = (ip["vrf"], address, vrr["mac-address"])
    if svis:
        assert config["router"]["vrr"]["enable"] is True

    # VXLAN: the single VXLAN device of br_default (VLAN -> VNI, per-VNI head-end replication).
    if "nve" in config:
        vxlan = config["nve"]["vxlan"]
        assert vxlan["enable"] is True
        parsed.vtep_ip = vxlan["source"]["address"]
        parsed.vtep_interface = next(
            name for name, addresses in parsed.addresses.items() if f"{parsed.vtep_ip}/32" in addresses
        )
        parsed.udp_port = vxlan.get("port")
        domain = config["bridge"]["domain"]["br_default"]
        assert domain["type"] == "vlan-aware"
        for vlan, entry in domain["vlan"].items():
            ((vni, options),) = entry["vni"].items()
            parsed.vlan_vni[int(vlan)] = int(vni)
            if options:
                assert options["flooding"]["enable"] is True
                parsed.flood[int(vni)] = set(options["flooding"]["head-end-replication"])
        has_static = bool(parsed.flood)
        assert vxlan["mac-learning"] is has_static, "data-plane learning exactly when a segment floods statically"
    evpn_vnis = config.get("evpn", {}).get("vni", {})
    for vni, entry in evpn_vnis.items():
        targets = entry["route-target"]
        parsed.evpn[int(vni)] = (entry["rd"], set(targets["import"]), set(targets["export"]))
    if evpn_vnis:
        assert config["nve"]["vxlan"]["flooding"] == {"enable": True, "head-end-replication": {"evpn": {}}}

    # BGP in the default VRF, L3 VNIs in the tenant VRFs.
    bgp = config["router"]["bgp"]
    assert bgp["enable"] is True
    parsed.asn = bgp["autonomous-system"]
    parsed.router_id = bgp["router-id"]
    vrfs = dict(config["vrf"])
    default = vrfs.pop("default")["router"]["bgp"]
    families = default["address-family"]
    parsed.announce = set(families["ipv4-unicast"].get("network", {}))
    for ip, neighbor in default["neighbor"].items():
        assert neighbor["type"] == "numbered"
        assert neighbor["address-family"]["ipv4-unicast"]["enable"] is True
        evpn = neighbor["address-family"].get("l2vpn-evpn", {}).get("enable") is True
        parsed.neighbors[ip] = (neighbor["remote-as"], evpn)
    if any(evpn for _, evpn in parsed.neighbors.values()):
        assert families["l2vpn-evpn"]["enable"] is True and config["evpn"]["enable"] is True
    for name, vrf in vrfs.items():
        assert vrf["table"] == "auto"
        if "evpn" in vrf:
            ((vni, _),) = vrf["evpn"]["vni"].items()
            vrf_bgp = vrf["router"]["bgp"]
            imports = set(vrf_bgp["route-import"]["from-evpn"]["route-target"])
            exports = set(vrf_bgp["route-export"]["to-evpn"]["route-target"])
            parsed.l3[name] = (int(vni), vrf_bgp["rd"], imports, exports, vrf["evpn"]["vlan"])
    return parsed


@pytest.mark.parametrize("variant", ["evpn", "static"])
def test_every_device_renders_the_intent(variant, vendor_render, device_checker, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, variant)
    assert set(fabric.configs) == set(fabric.expected)
    for host, text in fabric.configs.items():
        device_checker(parse_nvue(text, new_parsed()), fabric.expected[host], l3vlan=True)


def test_duplicate_keys_are_caught() -> None:
    # The loader the tests rely on must really refuse what PyYAML accepts silently.
    with pytest.raises(AssertionError, match="duplicate key 'lo'"):
        load_nvue("- set:\n    interface:\n      lo: {}\n      lo: {}\n")


def test_spine_has_evpn_but_no_vxlan(vendor_render) -> None:
    config = load_nvue(vendor_render(PLATFORM, "evpn").configs["spine1"])
    assert "nve" not in config and "bridge" not in config
    assert config["evpn"] == {"enable": True}
    neighbors = config["vrf"]["default"]["router"]["bgp"]["neighbor"]
    assert all(n["address-family"]["l2vpn-evpn"]["enable"] is True for n in neighbors.values())


def test_udp_port_is_rendered_only_when_not_the_default(vendor_render, new_parsed) -> None:
    assert parse_nvue(vendor_render(PLATFORM, "evpn").configs["leaf1"], new_parsed()).udp_port is None
    other = vendor_render(PLATFORM, "static", udp_port=4790)
    for host in other.leaves():
        assert parse_nvue(other.configs[host], new_parsed()).udp_port == 4790



def test_a_static_segment_on_one_vtep_has_no_flood_list(vendor_render, device_checker, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "static", edits={"segments:\n": SOLO_SEGMENT})
    config = load_nvue(fabric.configs["leaf1"])
    assert config["bridge"]["domain"]["br_default"]["vlan"]["50"] == {"vni": {"10050": {}}}
    device_checker(parse_nvue(fabric.configs["leaf1"], new_parsed()), fabric.expected["leaf1"], l3vlan=True)


def test_tenant_subnets_are_advertised_as_type5(vendor_render) -> None:
    """Like EOS, Junos and FRR for the same intent: the VRF's connected subnets leave as EVPN type-5 routes
    (NVUE: route-export to-evpn, redistribute connected)."""
    config = load_nvue(vendor_render(PLATFORM, "evpn").configs["leaf1"])
    family = config["vrf"]["RED"]["router"]["bgp"]["address-family"]["ipv4-unicast"]
    assert family == {"enable": True, "redistribute": {"connected": {"enable": True}},
                      "route-export": {"to-evpn": {"enable": True}}}


def inventory_with_version(tmp_path: Path, version: str | None) -> Path:
    target = tmp_path / f"cumulus-{version}"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "vendor-cumulus", target)
    if version is not None:
        groups = target / "groups.yaml"
        groups.write_text(groups.read_text().replace("    role: leaf", f"    role: leaf\n    version: '{version}'"))
    return target


@pytest.mark.parametrize(("version", "rendered"), [(None, "5.12"), ("5.0", "5.0"), ("5.14", "5.14")])
def test_the_release_is_declared_and_rendered(tmp_path: Path, version: str | None, rendered: str) -> None:
    configs = {c.host: c.files["config.yaml"] for c in render_fabric(load_fabric(inventory_with_version(tmp_path,
                                                                                                       version)))}
    assert f"# For: Cumulus Linux {rendered}\n" in configs["leaf1"]
    assert "# For: Cumulus Linux 5.12\n" in configs["spine1"]  # the group sets it for leaves only


@pytest.mark.parametrize("version", ["5.15", "6.0", "4.4"])
def test_a_release_with_another_object_model_is_refused(tmp_path: Path, version: str) -> None:
    with pytest.raises(VxautoError) as refused:
        load_fabric(inventory_with_version(tmp_path, version))
    message = str(refused.value)
    assert f"leaves.data.version: cumulus {version} is not supported (supported: 5.0-5.14)" in message
    assert "`state: enabled`" in message
