"""Churn through real GoBGP and FRR: 10,000 MACs learned, 5,000 of them moved, 2,500 withdrawn, back to back.

    pv-c2 [pyvtep A, AS 65001, VTEP 10.79.255.3] --eBGP-- pv-c1 [FRR, AS 65002, VNI 3001] --eBGP-- pv-c3 [pyvtep B,
                                                                                            AS 65003, VTEP 10.79.255.1]

A learns 10,000 MACs on its TAP; right away 5,000 of them show up on B's TAP (they moved: B outbids A's routes
with MAC mobility, or wins the tie with its lower VTEP address when A's routes have not reached it yet, and
A withdraws) and A flushes 2,500 others (withdrawn). FRR, which relays between A and B, must end with
exactly A's routes for the 2,500 kept MACs and B's routes for the 5,000 moved ones: nothing lost, nothing
stale. The test waits for that state (with a deadline) and reports how long it took; it asserts no time.

How long it takes is gobgpd's: Debian's gobgpd 3.10 visits its whole EVPN table for every MAC route it takes
in, through its API (BgpServer.fixupApiPath, additions and withdrawals) and from a BGP peer
(TableManager.handleMacMobility, additions), so the cost grows with the square of the table (fixed upstream
in GoBGP 3.22). Both pyvteps run with `mac_speakers`: their type-2 routes go through 8 extra gobgpd
processes, so the API scans are over 1/8 of the table and withdrawals reach the front gobgpd over BGP,
unscanned; B's front still takes in A's 10,000 routes from FRR one scan each. pyvtep coalesces what changed
before it was sent (a MAC learned and moved away again before its turn costs GoBGP nothing).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from vtep_lab import Lab, have_root_and_tools, wait_for

from vxauto.vtep.api import request

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VNI = 3001
MACS = 10_000
MAC_SPEAKERS = 8  # gobgpd processes per pyvtep that carry the type-2 routes (evpn.mac_speakers)
FRR_VTEP, A_VTEP, B_VTEP = "10.79.255.2", "10.79.255.3", "10.79.255.1"

FRR_CONF = f"""\
frr defaults datacenter
hostname pv-c1
log stdout warnings
!
router bgp 65002
 bgp router-id {FRR_VTEP}
 no bgp ebgp-requires-policy
 neighbor 10.79.1.1 remote-as 65001
 neighbor 10.79.2.1 remote-as 65003
 !
 address-family ipv4 unicast
  network {FRR_VTEP}/32
 exit-address-family
 !
 address-family l2vpn evpn
  neighbor 10.79.1.1 activate
  neighbor 10.79.2.1 activate
  advertise-all-vni
 exit-address-family
!
"""

# Frames from many source MACs into a TAP, addressed to the TAP's own MAC so nothing is flooded.
_INJECT = """
import socket, sys
tap, dst, first, count = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3]), int(sys.argv[4])
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
    sock.bind((tap, 0))
    for i in range(first, first + count):
        sock.send(dst + bytes.fromhex("02cc") + i.to_bytes(4, "big") + b"\\x88\\xb5" + bytes(46))
"""

_ANNOUNCE = """
import socket, sys
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
    sock.bind((sys.argv[1], 0))
    sock.send(b"\\xff" * 6 + mac + b"\\x88\\xb5" + bytes(46))
"""


def churn_mac(i: int) -> str:
    return "02:cc:" + ":".join(f"{b:02x}" for b in i.to_bytes(4, "big"))


def _inject(lab: Lab, ns: str, tap: str, dst: str, first: int, count: int) -> None:
    lab.run(ns, sys.executable, "-c", _INJECT, tap, dst, str(first), str(count), timeout=60)


def _frr_type2(lab: Lab) -> set[tuple[str, str]]:
    """(RD, MAC) of every churn MAC route in FRR's BGP EVPN table."""
    text = lab.vtysh("pv-c1", "show bgp l2vpn evpn route type macip json")
    try:
        table: Any = json.loads(text)
    except ValueError:
        return set()
    routes = set()
    for rd, section in table.items() if isinstance(table, dict) else ():
        if not isinstance(section, dict):
            continue
        for prefix in section:
            found = re.search(r"\[2\]:\[0\]:\[48\]:\[(02:cc:[0-9a-f:]+)\]", prefix)
            if found:
                routes.add((rd, found.group(1)))
    return routes


def _pyvtep(lab: Lab, ns: str, vtep: str, asn: int, neighbor: str, api_port: int, name: str) -> Path:
    return lab.pyvtep(ns, {
        "local_ip": vtep, "mac_aging": 600,
        "vnis": [{"vni": VNI, "tap": f"pvt{VNI}"}],
        "evpn": {"asn": asn, "neighbors": [{"address": neighbor, "asn": 65002}], "announce": [f"{vtep}/32"],
                 "api_port": api_port, "mac_speakers": MAC_SPEAKERS},
    }, name)[2]


def test_churn_of_10000_macs_leaves_frr_with_exactly_the_right_routes(vtep_lab: Lab) -> None:
    reason = have_root_and_tools("gobgpd", "vtysh")
    if reason or not Path("/usr/lib/frr/bgpd").exists():
        pytest.skip(reason or "FRR not installed")
    lab = vtep_lab
    for ns in ("pv-c1", "pv-c2", "pv-c3"):
        lab.netns(ns)
    lab.veth("pv-c1", "pvc1a", "pv-c2", "pvc2u")
    lab.veth("pv-c1", "pvc1b", "pv-c3", "pvc3u")
    lab.address("pv-c1", "pvc1a", "10.79.1.2/24")
    lab.address("pv-c2", "pvc2u", "10.79.1.1/24")
    lab.address("pv-c1", "pvc1b", "10.79.2.2/24")
    lab.address("pv-c3", "pvc3u", "10.79.2.1/24")
    lab.address("pv-c1", "lo", f"{FRR_VTEP}/32")
    lab.address("pv-c2", "lo", f"{A_VTEP}/32")
    lab.address("pv-c3", "lo", f"{B_VTEP}/32")
    lab.bridge("pv-c1", f"br{VNI}")
    lab.kernel_vxlan("pv-c1", VNI, FRR_VTEP, bridge=f"br{VNI}")
    lab.frr("pv-c1", FRR_CONF)
    socket_a = _pyvtep(lab, "pv-c2", A_VTEP, 65001, "10.79.1.2", 50791, "pvca")
    socket_b = _pyvtep(lab, "pv-c3", B_VTEP, 65003, "10.79.2.2", 50792, "pvcb")
    rd_a, rd_b = f"{A_VTEP}:{VNI}", f"{B_VTEP}:{VNI}"
    tap_a = lab.run("pv-c2", "cat", f"/sys/class/net/pvt{VNI}/address").stdout.strip()
    tap_b = lab.run("pv-c3", "cat", f"/sys/class/net/pvt{VNI}/address").stdout.strip()
    # Both TAPs' own MACs are local first, so the injected frames (sent to them) are never flooded.
    for ns, tap, socket_path in (("pv-c2", tap_a, socket_a), ("pv-c3", tap_b, socket_b)):
        lab.run(ns, sys.executable, "-c", _ANNOUNCE, f"pvt{VNI}", tap)
        wait_for(lambda s=socket_path, t=tap: any(r["mac"] == t and r["local"] for r in request(s, "macs")), 10,
                 "the TAP's own MAC learned")
    wait_for(lambda: all(n["state"] == "established" for s in (socket_a, socket_b)
                         for n in request(s, "evpn")["neighbors"]), 30, "both BGP sessions up")

    for ns in ("pv-c2", "pv-c3"):  # room for a burst of 10,000 frames in the TAP's queue
        lab.run(ns, "ip", "link", "set", f"pvt{VNI}", "txqueuelen", str(2 * MACS))

    def local_churn_macs(socket_path: Path) -> int:
        return sum(1 for r in request(socket_path, "macs", vni=VNI) if r["local"] and r["mac"].startswith("02:cc"))

    started = time.monotonic()
    _inject(lab, "pv-c2", f"pvt{VNI}", tap_a, 0, MACS)  # learned at A
    wait_for(lambda: local_churn_macs(socket_a) == MACS, 30, "A to read all 10,000 frames")
    _inject(lab, "pv-c3", f"pvt{VNI}", tap_b, 0, MACS // 2)  # the first half moves to B
    flushed = [churn_mac(i) for i in range(MACS // 2, MACS * 3 // 4)]
    assert request(socket_a, "flush", vni=VNI, macs=flushed) == {"flushed": len(flushed)}  # withdrawn at A
    injected = time.monotonic() - started

    expected = {(rd_b, churn_mac(i)) for i in range(MACS // 2)} | {(rd_a, churn_mac(i))
                                                                   for i in range(MACS * 3 // 4, MACS)}
    try:
        wait_for(lambda: _frr_type2(lab) == expected, 300, "FRR's EVPN table to converge", interval=1.0)
    except AssertionError:
        got = _frr_type2(lab)
        raise AssertionError(f"FRR has {len(got)} churn routes, {len(expected - got)} missing "
                             f"(e.g. {sorted(expected - got)[:3]}), {len(got - expected)} stale "
                             f"(e.g. {sorted(got - expected)[:3]})") from None
    converged = time.monotonic() - started
    status_a, status_b = request(socket_a, "evpn"), request(socket_b, "evpn")
    assert status_a["pending"] == 0 and status_b["pending"] == 0
    for status in (status_a, status_b):  # every MAC speaker carried its share
        speakers = status["mac_speakers"]
        assert len(speakers) == MAC_SPEAKERS and all(speaker["acknowledged"] > 0 for speaker in speakers)
    assert len([m for m in status_a["advertised"]["macs"] if m["mac"].startswith("02:cc")]) == MACS // 4
    assert len([m for m in status_b["advertised"]["macs"] if m["mac"].startswith("02:cc")]) == MACS // 2
    a_macs = {r["mac"]: r for r in request(socket_a, "macs", vni=VNI)}
    assert all(a_macs[churn_mac(i)]["remote"] == B_VTEP for i in range(MACS // 2))  # A forwards moved MACs to B
    print(f"churn: {MACS} learned, {MACS // 2} moved, {len(flushed)} withdrawn in {injected:.1f} s; "
          f"FRR converged after {converged:.1f} s (machine shared with other jobs)")
