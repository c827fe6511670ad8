"""Rendered configurations read back by parsers that are not ours: the vendors' Ansible resource modules
(`state: parsed`, from the `ansible` package in a separate venv, see ansible_parsers.py) and FRR's own
`vtysh -C -f` (configuration check without a running daemon).

What is compared is meaning (per /work/shared/peer-validators.md these parsers have quirks of their own): the
BGP address families each vendor parser finds for the tenant VRF and the EVPN sessions. Junos is not among them:
the junipernetworks.junos resource modules parse `show configuration | display xml` only, and producing that XML
from set commands takes a Junos device; the Junos set output is checked by tests/render/test_vendor_junos.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEMO_INVENTORY
from tests.render.ansible_parsers import ParseJob, parsers_venv, run_parsers
from vxauto.model import load_fabric
from vxauto.render import render_fabric

INTENTS = Path(__file__).resolve().parents[1] / "fixtures" / "intents"

pytestmark = pytest.mark.slow


def rendered(platform: str, prefix: str = "vendor-") -> dict[str, str]:
    configs = {}
    for config in render_fabric(load_fabric(INTENTS / f"{prefix}{platform}")):
        ((_, text),) = config.files.items()
        configs[config.host] = text
    return configs


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    playbook, why = parsers_venv()
    if playbook is None:
        pytest.skip(f"the vendors' Ansible parsers are not available: {why}")
    nxos, eos = rendered("nxos"), rendered("eos")
    bgw = rendered("multisite-vendors", prefix="")["border2"]
    jobs = [
        ParseJob("nxos leaf1", "cisco.nxos.nxos_bgp_address_family", "cisco.nxos.nxos",
                 section(nxos["leaf1"], "router bgp")),
        ParseJob("nxos spine1", "cisco.nxos.nxos_bgp_address_family", "cisco.nxos.nxos",
                 section(nxos["spine1"], "router bgp")),
        ParseJob("nxos leaf1 global", "cisco.nxos.nxos_bgp_global", "cisco.nxos.nxos",
                 section(nxos["leaf1"], "router bgp")),
        # the Multi-Site border gateway of the two-site fixture (site-external session to the EOS gateway)
        ParseJob("nxos bgw global", "cisco.nxos.nxos_bgp_global", "cisco.nxos.nxos",
                 section(bgw, "router bgp")),
        ParseJob("nxos bgw neighbors", "cisco.nxos.nxos_bgp_neighbor_address_family", "cisco.nxos.nxos",
                 section(bgw, "router bgp")),
        ParseJob("eos leaf1", "arista.eos.eos_bgp_address_family", "arista.eos.eos",
                 section(eos["leaf1"], "router bgp")),
        # eos_bgp_global rejects `redistribute learned` (valid in an EVPN `vlan` block, not in its choices):
        # it reads the rest, the VLAN blocks are taken out for it
        ParseJob("eos leaf1 global", "arista.eos.eos_bgp_global", "arista.eos.eos",
                 re.sub(r"\n   vlan \d+\n(      .*\n)+", "\n", section(eos["leaf1"], "router bgp"))),
    ]
    return run_parsers(playbook, jobs, tmp_path_factory.mktemp("ansible-parsers"))


def section(text: str, start: str) -> str:
    """`show running-config | section '^START'`: the block that starts with START, as the module reads it
    from a device (fed the whole file, cisco.nxos's flattening mistakes `vrf context` for a BGP VRF)."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    block = [lines[first]]
    for line in lines[first + 1:]:
        if line and not line[0].isspace():
            break
        block.append(line)
    return "\n".join(block) + "\n"


def families(document: Any, vrf: str | None = None) -> dict[str, dict]:
    """Address families of one VRF (None: the global ones), keyed `afi safi`."""
    return {f"{af['afi']} {af.get('safi', '')}".strip(): af for af in document["address_family"]
            if af.get("vrf") == vrf}


def test_nxos_parser_reads_type5_and_evpn(parsed: dict[str, Any]) -> None:
    leaf = parsed["nxos leaf1"]
    assert leaf["as_number"] == "65101"
    red = families(leaf, "RED")["ipv4 unicast"]
    assert red["advertise_l2vpn_evpn"] is True
    assert red["redistribute"] == [{"protocol": "direct", "route_map": "VXAUTO-CONNECTED"}]
    assert "l2vpn evpn" in families(leaf)
    spine = families(parsed["nxos spine1"])
    assert spine["l2vpn evpn"].get("retain", {}).get("route_target", {}).get("retain_all") is True
    neighbors = {n["neighbor_address"]: n["remote_as"] for n in parsed["nxos leaf1 global"]["neighbors"]}
    assert neighbors == {"10.1.1.0": "65000", "10.2.1.0": "65000"}


def test_nxos_parser_reads_the_multisite_border_gateway(parsed: dict[str, Any]) -> None:
    """Cisco's parsers find the site-external session of the BGW as the Multi-Site chapter configures it; the
    DCI link's underlay session and the spine's stay plain (the positive control of the same parse)."""
    neighbors = {n["neighbor_address"]: n for n in parsed["nxos bgw global"]["neighbors"]}
    assert neighbors["10.100.0.12"] == {"neighbor_address": "10.100.0.12", "remote_as": "65102",
                                        "description": "border1", "update_source": "loopback0",
                                        "ebgp_multihop": 5, "peer_type": "fabric-external"}
    assert "peer_type" not in neighbors["10.199.0.0"] and "peer_type" not in neighbors["10.201.2.0"]
    families_of = {n["neighbor_address"]: {f"{af['afi']} {af['safi']}": af for af in n["address_family"]}
                   for n in parsed["nxos bgw neighbors"]["neighbors"]}
    evpn = families_of["10.100.0.12"]["l2vpn evpn"]
    assert evpn["rewrite_evpn_rt_asn"] is True and evpn["send_community"] == {"extended": True, "standard": True}
    assert "rewrite_evpn_rt_asn" not in families_of["10.201.2.0"]["l2vpn evpn"]
    assert set(families_of["10.199.0.0"]) == {"ipv4 unicast"}  # the DCI link: underlay only


def test_eos_parser_reads_the_same_type5_intent(parsed: dict[str, Any]) -> None:
    leaf = parsed["eos leaf1"]
    assert leaf["as_number"] == "65101"
    assert set(families(leaf)) == {"evpn", "ipv4"}
    (red,) = [vrf for vrf in parsed["eos leaf1 global"]["vrfs"] if vrf["vrf"] == "RED"]
    assert red["redistribute"] == [{"protocol": "connected"}]
    # the parser keeps one route-target line of the VRF (the last); both are rendered
    assert red["route_target"] == {"action": "export", "target": "65000:50001", "type": "evpn"}


@pytest.mark.skipif(shutil.which("vtysh") is None, reason="needs FRR's vtysh")
def test_frr_accepts_every_rendered_frr_conf(tmp_path: Path) -> None:
    for config in render_fabric(load_fabric(DEMO_INVENTORY)):
        if "frr.conf" not in config.files:
            continue
        path = tmp_path / f"{config.host}.conf"
        path.write_text(config.files["frr.conf"])
        result = subprocess.run(["vtysh", "-C", "-f", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, (config.host, result.stdout[-800:], result.stderr[-800:])
    broken = tmp_path / "broken.conf"
    broken.write_text("router bgp 65000\n neighbor 10.0.0.1 remote-az 65001\n")  # control: a typo is caught
    assert subprocess.run(["vtysh", "-C", "-f", str(broken)], capture_output=True, check=False).returncode != 0
