"""pyvtep + GoBGP joins an FRR EVPN fabric: routes both ways, hosts ping, no static flood list.

    pv-eh2 (192.168.60.2) --br2001-- pv-e1 [FRR AS 65002, kernel vx2001, VTEP 10.78.255.2]
                                        | 10.78.0.2   eBGP ipv4 + l2vpn evpn
                                        | 10.78.0.1
                                     pv-e2 [pyvtep + gobgpd AS 65001, VTEP 10.78.255.1, TAP 192.168.60.1]
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import dpkt
import pytest
from vtep_lab import Capture, Lab, have_root_and_tools, ping, wait_for

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


def _fabric(lab: Lab) -> Path:
    """The two-node fabric of the module docstring; returns pyvtep's API socket."""
    reason = have_root_and_tools("gobgpd", "vtysh")
    if reason or not Path("/usr/lib/frr/bgpd").exists():
        pytest.skip(reason or "FRR not installed")
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
    _process, _config, socket_path = lab.pyvtep("pv-e2", {
        "local_ip": PYVTEP_VTEP,
        "vnis": [{"vni": VNI, "tap": f"pvt{VNI}", "address": "192.168.60.1/24"}],  # no flood list at all
        "evpn": {"asn": 65001, "neighbors": [{"address": "10.78.0.2", "asn": 65002}],
                 "announce": [f"{PYVTEP_VTEP}/32"], "api_port": 50781},
    }, "pve")
    return socket_path


def _frr_mac(lab: Lab, mac: str) -> dict[str, Any]:
    """FRR's zebra view of one MAC in the VNI (`type` local/remote, sequence numbers, remote VTEP)."""
    found = _frr_json(lab, f"show evpn mac vni {VNI} mac {mac} json")  # {"<mac>": {...}} in FRR 8.4
    entry = found.get(mac) if isinstance(found, dict) else None
    return entry if isinstance(entry, dict) else {}


def test_pyvtep_joins_frr_evpn_fabric(vtep_lab: Lab) -> None:
    lab = vtep_lab
    socket_path = _fabric(lab)
    process = lab.processes[-1][1]

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
    assert {"vni": VNI, "mac": tap_mac, "sequence": 0} in status["advertised"]["macs"]
    # RFC 7432 / RFC 4364 type-1 RD: router ID and a per-VTEP index, seen as such by FRR
    assert status["route_distinguishers"] == {str(VNI): f"{PYVTEP_VTEP}:{VNI}"}
    assert f"{PYVTEP_VTEP}:{VNI}" in lab.vtysh("pv-e1", "show bgp l2vpn evpn route")
    assert status["pending"] == 0 and status["command_failures"] == 0
    vteps = [row for row in api("vteps") if row["remote"] == FRR_VTEP]
    assert vteps and "evpn" in vteps[0]["sources"] and "static" not in vteps[0]["sources"]

    # gobgpd dies: pyvtep starts it again and advertises everything it owns once more.
    os.kill(status["gobgpd_pid"], signal.SIGKILL)
    restarted = wait_for(lambda: (now := api("evpn"))["gobgpd_restarts"] == 1 and now["resyncs"] >= 1 and now,
                         20, "gobgpd restarted and pyvtep re-advertising")
    assert restarted["gobgpd_pid"] != status["gobgpd_pid"]
    wait_for(lambda: _frr_mac(lab, tap_mac).get("remoteVtep") == PYVTEP_VTEP, 40,
             "FRR to get pyvtep's MAC route back after the gobgpd restart")
    wait_for(lambda: PYVTEP_VTEP in json.dumps(_frr_json(lab, f"show evpn vni {VNI} json")), 20,
             "FRR to get pyvtep's IMET route back")
    wait_for(lambda: any(r["mac"] == host_mac and r["type"] == "evpn" for r in api("macs", vni=VNI)), 20,
             "FRR's MAC route in pyvtep again")
    assert ping(lab, "pv-eh2", "192.168.60.1", count=2)

    # Clean shutdown: gobgpd goes with pyvtep, the session drops and FRR forgets our VTEP and MAC.
    assert lab.stop(process) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(restarted["gobgpd_pid"], 0)
    wait_for(lambda: PYVTEP_VTEP not in json.dumps(_frr_json(lab, f"show evpn vni {VNI} json")), 20,
             "FRR to drop pyvtep's routes")
    assert tap_mac not in lab.run("pv-e1", "bridge", "fdb", "show", "dev", f"vx{VNI}").stdout


_GARP = """
import socket, sys
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
ip = socket.inet_aton(sys.argv[3])
arp = bytes.fromhex("0001080006040002") + mac + ip + b"\\xff" * 6 + ip
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
    sock.bind((sys.argv[1], 0))
    sock.send(b"\\xff" * 6 + mac + b"\\x08\\x06" + arp)
"""


def _gratuitous_arp(lab: Lab, ns: str, device: str, mac: str, ip: str) -> None:
    """What a moved VM announces first: a broadcast ARP reply from its MAC and IP."""
    lab.run(ns, sys.executable, "-c", _GARP, device, mac, ip)


def test_mac_mobility_with_frr(vtep_lab: Lab) -> None:
    """One MAC moves FRR -> pyvtep -> FRR; each move raises the sequence number and the newest wins."""
    lab = vtep_lab
    socket_path = _fabric(lab)
    mac = "02:aa:00:00:00:01"
    tap = f"pvt{VNI}"

    def pyvtep_entry() -> dict[str, Any]:
        return next((r for r in request(socket_path, "macs", vni=VNI) if r["mac"] == mac), {})

    # 1. The host behind FRR uses the MAC: FRR advertises it (sequence 0), pyvtep points it at FRR.
    lab.run("pv-eh2", "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")  # no unsolicited IPv6 frames
    lab.run("pv-eh2", "ip", "link", "set", "eth0", "address", mac)
    wait_for(lambda: PYVTEP_VTEP in json.dumps(_frr_json(lab, f"show evpn vni {VNI} json")), 30,
             "pyvtep as remote VTEP in FRR")
    assert ping(lab, "pv-eh2", "192.168.60.1", count=2), lab.log("pve.log")
    wait_for(lambda: pyvtep_entry().get("type") == "evpn", 30, "FRR's route for the MAC in pyvtep")
    assert pyvtep_entry()["remote"] == FRR_VTEP
    assert _frr_mac(lab, mac).get("type") == "local"

    # 2. The host (as a VM would) moves behind pyvtep and announces itself there: pyvtep outbids FRR's
    # route with sequence number 1, FRR turns its local entry into a remote one.
    _gratuitous_arp(lab, "pv-e2", tap, mac, "192.168.60.2")
    wait_for(lambda: _frr_mac(lab, mac).get("type") == "remote", 20, "FRR to see the MAC move to pyvtep")
    moved = _frr_mac(lab, mac)
    assert moved["remoteVtep"] == PYVTEP_VTEP and moved["remoteSequence"] == 1, moved
    assert pyvtep_entry()["type"] == "local"
    evpn = request(socket_path, "evpn")
    assert {"vni": VNI, "mac": mac, "sequence": 1} in evpn["advertised"]["macs"] and evpn["mac_moves"] == 1

    # 3. It moves back behind FRR and speaks: FRR advertises sequence 2, which takes the MAC from pyvtep.
    assert ping(lab, "pv-eh2", "192.168.60.1", count=2)
    wait_for(lambda: pyvtep_entry().get("type") == "evpn", 20, "the MAC back behind FRR in pyvtep")
    assert pyvtep_entry()["remote"] == FRR_VTEP
    back = _frr_mac(lab, mac)
    assert back["type"] == "local" and back["localSequence"] == 2, back
    evpn = request(socket_path, "evpn")
    assert mac not in {m["mac"] for m in evpn["advertised"]["macs"]}
    assert {"vni": VNI, "mac": mac, "remote": FRR_VTEP, "sequence": 2} in evpn["received"]["macs"]


def test_arp_suppression_from_frr_mac_ip_routes(vtep_lab: Lab) -> None:
    """FRR advertises the host's MAC+IP; pyvtep answers ARP for it from the route instead of flooding."""
    lab = vtep_lab
    socket_path = _fabric(lab)
    # An address on FRR's bridge makes the kernel (and so zebra) learn the host's ARP entry: FRR then
    # advertises a MAC+IP type-2 route for 192.168.60.2.
    lab.address("pv-e1", f"br{VNI}", "192.168.60.254/24")
    assert ping(lab, "pv-eh2", "192.168.60.254", count=2)
    host_mac = lab.run("pv-eh2", "cat", "/sys/class/net/eth0/address").stdout.strip()
    wait_for(lambda: {"vni": VNI, "mac": host_mac, "remote": FRR_VTEP, "sequence": 0} in
             request(socket_path, "evpn")["received"]["macs"] and any(
                 "192.168.60.2" in line for line in lab.vtysh("pv-e1", "show bgp l2vpn evpn route").splitlines()),
             30, "FRR's MAC+IP route for the host")
    wait_for(lambda: len([m for m in request(socket_path, "evpn")["received"]["macs"] if m["mac"] == host_mac]) == 2,
             20, "both of FRR's routes for the host (MAC and MAC+IP) in pyvtep")

    def counters() -> dict[str, int]:
        result: dict[str, int] = request(socket_path, "counters")["vnis"][str(VNI)]
        return result

    # Positive control: FRR's bridge address has no MAC+IP route, so pyvtep floods that ARP request.
    before = counters()
    assert ping(lab, "pv-e2", "192.168.60.254", count=1)
    after = counters()
    assert after["arp_suppressed"] == before["arp_suppressed"]
    assert after["tx_flood_packets"] > before["tx_flood_packets"]
    # The host's address has one: the request is answered by pyvtep and never leaves it.
    assert ping(lab, "pv-e2", "192.168.60.2", count=1)
    final = counters()
    assert final["arp_suppressed"] == after["arp_suppressed"] + 1
    assert final["tx_flood_packets"] == after["tx_flood_packets"]
    neighbour = lab.run("pv-e2", "ip", "neigh", "show", "192.168.60.2").stdout
    assert host_mac in neighbour


def _solicited_targets(capture: Capture) -> list[str]:
    """Target addresses of the Neighbor Solicitations tunnelled through the captured underlay."""
    targets = []
    for raw in capture.frames():
        outer = dpkt.ethernet.Ethernet(raw)
        if not isinstance(outer.data, dpkt.ip.IP) or not isinstance(outer.data.data, dpkt.udp.UDP):
            continue
        inner = dpkt.ethernet.Ethernet(bytes(outer.data.data.data)[8:])
        if isinstance(inner.data, dpkt.ip6.IP6) and inner.data.nxt == 58:
            icmp = bytes(inner.data.data)
            if icmp[0] == 135:
                targets.append(str(ipaddress.IPv6Address(icmp[8:24])))
    return targets


def test_nd_suppression_from_frr_mac_ip_routes(vtep_lab: Lab, tmp_path: Path) -> None:
    """FRR advertises the host's MAC + IPv6 address; pyvtep answers the Neighbor Solicitation for it, so
    the solicitation never crosses the tunnel, while one for an address without a route does."""
    lab = vtep_lab
    socket_path = _fabric(lab)
    host, bridge, ours = "fd00:60::2", "fd00:60::254", "fd00:60::1"
    lab.run("pv-e1", "ip", "-6", "addr", "add", f"{bridge}/64", "dev", f"br{VNI}", "nodad")
    lab.run("pv-eh2", "ip", "-6", "addr", "add", f"{host}/64", "dev", "eth0", "nodad")
    lab.run("pv-e2", "ip", "-6", "addr", "add", f"{ours}/64", "dev", f"pvt{VNI}", "nodad")
    # The host speaks to FRR's bridge address: the kernel (and so zebra) learns its neighbour entry and
    # FRR advertises a MAC+IP type-2 route for fd00:60::2.
    assert lab.run("pv-eh2", "ping", "-6", "-c", "1", "-W", "2", bridge, check=False).returncode == 0
    host_mac = lab.run("pv-eh2", "cat", "/sys/class/net/eth0/address").stdout.strip()
    wanted = {"vni": VNI, "ip": host, "mac": host_mac}
    wait_for(lambda: wanted in request(socket_path, "evpn")["received"]["neighbours"], 30,
             "FRR's MAC+IPv6 route for the host in pyvtep")
    wait_for(lambda: any(r["mac"] == host_mac and r["type"] == "evpn" for r in request(socket_path, "macs", vni=VNI)),
             20, "FRR's MAC route for the host in pyvtep")

    def counters() -> dict[str, int]:
        result: dict[str, int] = request(socket_path, "counters")["vnis"][str(VNI)]
        return result

    capture = Capture(lab, "pv-e2", "pve2u", tmp_path / "underlay.pcap")
    before = counters()
    # The host's address has a route: pyvtep answers the solicitation, the echo then goes unicast.
    assert lab.run("pv-e2", "ping", "-6", "-c", "1", "-W", "2", host, check=False).returncode == 0, lab.log("pve.log")
    after = counters()
    assert after["nd_suppressed"] == before["nd_suppressed"] + 1
    neighbour = lab.run("pv-e2", "ip", "-6", "neigh", "show", host).stdout
    assert host_mac in neighbour
    # Positive control, in the same capture: FRR's bridge address has no MAC+IP route, so that
    # solicitation is flooded through the tunnel (and FRR's side answers it).
    assert lab.run("pv-e2", "ping", "-6", "-c", "1", "-W", "2", bridge, check=False).returncode == 0
    wait_for(lambda: bridge in _solicited_targets(capture), 10, "the control solicitation on the underlay")
    final = counters()
    assert final["nd_suppressed"] == after["nd_suppressed"]
    assert final["tx_flood_packets"] > after["tx_flood_packets"]
    assert host not in _solicited_targets(capture)  # captured before the control, so it would show
