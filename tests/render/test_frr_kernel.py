"""FRR + kernel rendering, checked by parsing the output back into meaning.

Expectations are computed from the inventory YAML directly (attach lists, VTEP IPs), not from the
derived facts the templates were fed, so a bug in fact derivation cannot hide behind itself.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO_INVENTORY
from vxauto.model import load_fabric
from vxauto.render import render_device, render_fabric


def intent_expectations(inventory: Path) -> tuple[dict[str, dict[int, int]], dict[tuple[str, int], set[str]]]:
    """(host -> {vlan: vni}, (host, vni) -> other VTEP IPs) read straight from the YAML files."""
    fabric = yaml.safe_load((inventory / "fabric.yaml").read_text())
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    vteps = {name: h["data"]["vtep"]["ip"] for name, h in hosts.items() if "vtep" in (h.get("data") or {})}
    maps: dict[str, dict[int, int]] = {name: {} for name in vteps}
    peers: dict[tuple[str, int], set[str]] = {}
    for segment in fabric["segments"]:
        attach = segment.get("attach", "all")
        members = list(vteps) if attach == "all" else attach["hosts"]
        for member in members:
            maps[member][segment["vlan"]] = segment["vni"]
            peers[(member, segment["vni"])] = {vteps[m] for m in members if m != member}
    return maps, peers


def parse_frr(text: str) -> dict:
    """Just enough of FRR's config grammar: BGP ASN, neighbours, EVPN VNIs with RD/RTs."""
    result: dict = {"neighbors": {}, "evpn_neighbors": set(), "vnis": {}, "networks": set(), "advertise_all": False}
    af = None
    vni = None
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.fullmatch(r"router bgp (\d+)", line):
            result["asn"] = int(m[1])
        elif m := re.fullmatch(r"bgp router-id (\S+)", line):
            result["router_id"] = m[1]
        elif m := re.fullmatch(r"neighbor (\S+) remote-as (\d+)", line):
            result["neighbors"][m[1]] = int(m[2])
        elif m := re.fullmatch(r"address-family (.+)", line):
            af = m[1]
        elif line == "exit-address-family":
            af = None
        elif af == "l2vpn evpn" and (m := re.fullmatch(r"neighbor (\S+) activate", line)):
            result["evpn_neighbors"].add(m[1])
        elif af == "l2vpn evpn" and line == "advertise-all-vni":
            result["advertise_all"] = True
        elif af == "ipv4 unicast" and (m := re.fullmatch(r"network (\S+)", line)):
            result["networks"].add(m[1])
        elif af == "l2vpn evpn" and (m := re.fullmatch(r"vni (\d+)", line)):
            vni = int(m[1])
            result["vnis"][vni] = {"import": set(), "export": set()}
        elif vni is not None and (m := re.fullmatch(r"rd (\S+)", line)):
            result["vnis"][vni]["rd"] = m[1]
        elif vni is not None and (m := re.fullmatch(r"route-target (import|export) (\S+)", line)):
            result["vnis"][vni][m[1]].add(m[2])
        elif line == "exit-vni":
            vni = None
    return result


def parse_kernel_script(text: str) -> dict:
    vxlans = {}
    for m in re.finditer(r"^ensure_link vxlan(\d+) type vxlan id (\d+) local (\S+) dstport (\d+) (\w+)$", text, re.M):
        vxlans[int(m[2])] = {"device": f"vxlan{m[1]}", "local": m[3], "port": int(m[4]), "learning": m[5]}
    floods: dict[int, set[str]] = {}
    for m in re.finditer(r"^ensure_flood vxlan(\d+) (\S+)$", text, re.M):
        floods.setdefault(int(m[1]), set()).add(m[2])
    access = {m[1]: int(m[2]) for m in re.finditer(
        r"^ip link set dev (eth\d+) master br(\d+) mtu \d+ up$", text, re.M)}
    return {"vxlans": vxlans, "floods": floods, "access": access}


@pytest.fixture(scope="module")
def rendered() -> dict:
    return {r.host: r for r in render_fabric(load_fabric(DEMO_INVENTORY))}


def test_every_leaf_maps_exactly_its_vlans_and_vnis(rendered: dict) -> None:
    maps, _ = intent_expectations(DEMO_INVENTORY)
    for host, expected in maps.items():
        frr = parse_frr(rendered[host].files["frr.conf"])
        kernel = parse_kernel_script(rendered[host].files["interfaces.sh"])
        assert set(frr["vnis"]) == set(expected.values()), host
        assert set(kernel["vxlans"]) == set(expected.values()), host
        hosts = yaml.safe_load((DEMO_INVENTORY / "hosts.yaml").read_text())
        fabric = yaml.safe_load((DEMO_INVENTORY / "fabric.yaml").read_text())
        vni_of = {s["name"]: s["vni"] for s in fabric["segments"]}
        ports = {p["interface"]: vni_of[p["segment"]] for p in hosts[host]["data"]["ports"]}
        assert kernel["access"] == ports, host


def test_evpn_rd_rt_and_vtep_source(rendered: dict) -> None:
    hosts = yaml.safe_load((DEMO_INVENTORY / "hosts.yaml").read_text())
    for host in ("leaf1", "leaf2", "leaf3", "leaf4"):
        frr = parse_frr(rendered[host].files["frr.conf"])
        kernel = parse_kernel_script(rendered[host].files["interfaces.sh"])
        vtep_ip = hosts[host]["data"]["vtep"]["ip"]
        assert frr["asn"] == hosts[host]["data"]["asn"]
        assert frr["advertise_all"]
        assert f"{vtep_ip}/32" in frr["networks"]
        for vni, info in frr["vnis"].items():
            assert info["import"] == info["export"] == {f"65000:{vni}"}
            # the router ID as a 32-bit number: never one of bgpd's automatic `<router-id>:<index>` RDs
            router_id = int(ipaddress.IPv4Address(hosts[host]["data"]["router_id"]))
            assert info["rd"].startswith(f"{router_id}:")
        for vxlan in kernel["vxlans"].values():
            assert (vxlan["local"], vxlan["port"], vxlan["learning"]) == (vtep_ip, 4789, "nolearning")
        assert kernel["floods"] == {}  # EVPN: FRR installs flood entries from type-3 routes


def test_spines_relay_evpn_without_vnis(rendered: dict) -> None:
    spine = parse_frr(rendered["spine1"].files["frr.conf"])
    assert spine["asn"] == 65000
    assert spine["vnis"] == {} and not spine["advertise_all"]
    assert spine["evpn_neighbors"] == {"10.1.1.1", "10.1.2.1", "10.1.3.1", "10.1.4.1"}
    assert "attribute-unchanged next-hop" in rendered["spine1"].files["frr.conf"]


def test_static_flood_lists_are_the_other_vteps(demo_inventory: Path) -> None:
    fabric_file = demo_inventory / "fabric.yaml"
    fabric_file.write_text(fabric_file.read_text().replace("flood: evpn", "flood: static"))
    _, peers = intent_expectations(demo_inventory)
    fabric = load_fabric(demo_inventory)
    for host in ("leaf1", "leaf2", "leaf3", "leaf4"):
        config = render_device(fabric.device(host))
        kernel = parse_kernel_script(config.files["interfaces.sh"])
        frr = parse_frr(config.files["frr.conf"])
        assert frr["vnis"] == {} and not frr["evpn_neighbors"]
        for vni, info in kernel["vxlans"].items():
            assert info["learning"] == "learning"
            assert kernel["floods"].get(vni, set()) == peers[(host, vni)], (host, vni)


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = {r.host: r.files for r in render_fabric(load_fabric(DEMO_INVENTORY))}
    second = {r.host: r.files for r in render_fabric(load_fabric(DEMO_INVENTORY))}
    assert first == second
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for directory in ("a", "b"):
        for config in render_fabric(load_fabric(DEMO_INVENTORY)):
            config.write(tmp_path / directory)
    diff = subprocess.run(["diff", "-r", str(tmp_path / "a"), str(tmp_path / "b")], capture_output=True, check=False)
    assert diff.returncode == 0, diff.stdout


def test_frr_accepts_the_rendered_config(rendered: dict, tmp_path: Path) -> None:
    """FRR's own parser (vtysh --dryrun) accepts every rendered frr.conf."""
    vtysh = Path("/usr/bin/vtysh")
    if not vtysh.exists():
        pytest.skip("FRR is not installed (apt-get install frr)")
    for host, config in rendered.items():
        if "frr.conf" not in config.files:
            continue
        path = tmp_path / f"{host}.conf"
        path.write_text(config.files["frr.conf"])
        check = subprocess.run([str(vtysh), "--dryrun", "-f", str(path)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, (host, check.stdout, check.stderr)


def test_shell_scripts_parse(rendered: dict, tmp_path: Path) -> None:
    for host, config in rendered.items():
        for name, text in config.files.items():
            if name.endswith(".sh"):
                path = tmp_path / f"{host}-{name}"
                path.write_text(text)
                assert subprocess.run(["sh", "-n", str(path)], check=False).returncode == 0, (host, name)
