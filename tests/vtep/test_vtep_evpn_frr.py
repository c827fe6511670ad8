"""pyvtep + GoBGP joins an FRR EVPN fabric: routes both ways, hosts ping, no static flood list.

    pv-eh2 (192.168.60.2) --br2001-- pv-e1 [FRR AS 65002, kernel vx2001, VTEP 10.78.255.2]
                                        | 10.78.0.2   eBGP ipv4 + l2vpn evpn
                                        | 10.78.0.1
                                     pv-e2 [pyvtep + gobgpd AS 65001, VTEP 10.78.255.1, TAP 192.168.60.1]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from vtep_lab import Lab, have_root_and_tools, ping, wait_for

from vxauto.vtep.api import request

pytestmark = pytest.mark.lab

VNI = 2001
FRR_VTEP, PYVTEP_VTEP = "10.78.255.2", "10.78.255.1"

FRR_CONF = f"""\
frr defaults datacenter
hostname pv-e1
log stdout informational
!
router bgp 65002
 bgp router-id {FRR_VTEP}
 no bgp ebgp-requires-policy
 neighbor 10.78.0.1 remote-as 65001
 !
 address-family ipv4 unicast
  network {FRR_VTEP}/32
 exit-address-family
 !
 address-family l2vpn evpn
  neighbor 10.78.0.1 activate
  advertise-all-vni
 exit-address-family
!
"""


def _frr_json(lab: Lab, command: str) -> Any:
    text = lab.vtysh("pv-e1", command)
    try:
        return json.loads(text)
    except ValueError:
        return {}


def test_pyvtep_joins_frr_evpn_fabric(vtep_lab: Lab) -> None:
    reason = have_root_and_tools("gobgpd", "gobgp", "vtysh")
    if reason or not Path("/usr/lib/frr/bgpd").exists():
        pytest.skip(reason or "FRR not installed")
    lab = vtep_lab
    lab.netns("pv-e1")
    lab.netns("pv-e2")
    lab.veth("pv-e1", "pve1u", "pv-e2", "pve2u")
    lab.address("pv-e1", "pve1u", "10.78.0.2/24")
    lab.address("pv-e2", "pve2u", "10.78.0.1/24")
    lab.address("pv-e1", "lo", f"{FRR_VTEP}/32")
    lab.address("pv-e2", "lo", f"{PYVTEP_VTEP}/32")
    # gobgpd does not program the kernel, so pyvtep's node reaches FRR's VTEP by a static route;
    # FRR learns pyvtep's VTEP address from the BGP ipv4-unicast announcement (`evpn.announce`).
    lab.run("pv-e2", "ip", "route", "add", f"{FRR_VTEP}/32", "via", "10.78.0.2")
    lab.bridge("pv-e1", f"br{VNI}")
    lab.kernel_vxlan("pv-e1", VNI, FRR_VTEP, bridge=f"br{VNI}")
    lab.host("pv-eh2", "pv-e1", f"br{VNI}", "192.168.60.2/24", "pveh2")
    lab.frr("pv-e1", FRR_CONF)
    process, _config, socket_path = lab.pyvtep("pv-e2", {
        "local_ip": PYVTEP_VTEP,
        "vnis": [{"vni": VNI, "tap": f"pvt{VNI}", "address": "192.168.60.1/24"}],  # no flood list at all
        "evpn": {"asn": 65001, "neighbors": [{"address": "10.78.0.2", "asn": 65002}],
                 "announce": [f"{PYVTEP_VTEP}/32"], "api_port": 50781},
    }, "pve")

    def api(op: str, **arguments: Any) -> Any:
        return request(socket_path, op, **arguments)

    # type-3 FRR -> pyvtep: FRR's VTEP lands in our flood list
    wait_for(lambda: FRR_VTEP in next(v for v in api("vnis") if v["vni"] == VNI)["flood"], 30,
             "FRR's IMET route in pyvtep's flood list")
    # type-3 pyvtep -> FRR: FRR lists us as a remote VTEP with head-end replication
    wait_for(lambda: PYVTEP_VTEP in json.dumps(_frr_json(lab, f"show evpn vni {VNI} json")), 20,
             "pyvtep as remote VTEP in FRR")
    fdb = lab.run("pv-e1", "bridge", "fdb", "show", "dev", f"vx{VNI}").stdout
    assert f"00:00:00:00:00:00 dst {PYVTEP_VTEP}" in fdb  # FRR installed the flood entry for us

    assert ping(lab, "pv-eh2", "192.168.60.1", count=3), lab.log("pve.log")
    assert ping(lab, "pv-e2", "192.168.60.2", count=3)

    tap_mac = lab.run("pv-e2", "cat", f"/sys/class/net/pvt{VNI}/address").stdout.strip()
    host_mac = lab.run("pv-eh2", "cat", "/sys/class/net/eth0/address").stdout.strip()
    # type-2 pyvtep -> FRR: our local MAC is a remote MAC in FRR, installed in the kernel fdb
    wait_for(lambda: tap_mac in json.dumps(_frr_json(lab, f"show evpn mac vni {VNI} json")), 20,
             "pyvtep's MAC route in FRR")
    fdb = lab.run("pv-e1", "bridge", "fdb", "show", "dev", f"vx{VNI}").stdout
    assert any(tap_mac in line and PYVTEP_VTEP in line and "extern_learn" in line for line in fdb.splitlines())
    # type-2 FRR -> pyvtep: the host's MAC is an EVPN entry behind FRR's VTEP
    wait_for(lambda: any(r["mac"] == host_mac and r["type"] == "evpn" and r["remote"] == FRR_VTEP
                         for r in api("macs", vni=VNI)), 20, "FRR's MAC route in pyvtep")
    status = api("evpn")
    assert {"address": "10.78.0.2", "asn": 65002, "state": "established"} in status["neighbors"]
    assert {"vni": VNI, "mac": tap_mac} in status["advertised"]["macs"]
    vteps = [row for row in api("vteps") if row["remote"] == FRR_VTEP]
    assert vteps and "evpn" in vteps[0]["sources"] and "static" not in vteps[0]["sources"]
    # Clean shutdown: gobgpd goes with pyvtep, the session drops and FRR forgets our VTEP and MAC.
    assert lab.stop(process) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(status["gobgpd_pid"], 0)
    wait_for(lambda: PYVTEP_VTEP not in json.dumps(_frr_json(lab, f"show evpn vni {VNI} json")), 20,
             "FRR to drop pyvtep's routes")
    assert tap_mac not in lab.run("pv-e1", "bridge", "fdb", "show", "dev", f"vx{VNI}").stdout
