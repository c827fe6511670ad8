"""Multicast underlay: pyvtep and a Linux kernel VXLAN device flood through one group, no flood lists.

    pv-m1 [kernel vx3100 group 239.1.31.1 dev pvm1u, 192.168.81.1] ==veth== pv-m2 [pyvtep, group 239.1.31.1,
                                     10.81.0.1                10.81.0.2            TAP 192.168.81.2]

and the same over an IPv6 underlay (group ff05::31:1, MLD instead of IGMP, VTEPs fd00:81::1 / fd00:81::2).

Neither side knows the other's address: the first ARP request of each ping reaches the other VTEP only
through the group; the replies go unicast to the address each side learned from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vtep_lab import Lab, have_root_and_tools, ping

from vxauto.vtep.api import request

pytestmark = pytest.mark.lab

VNI = 3100
GROUP = "239.1.31.1"
KERNEL_IP, PYVTEP_IP = "10.81.0.1", "10.81.0.2"
GROUP6, KERNEL_IP6, PYVTEP_IP6 = "ff05::31:1", "fd00:81::1", "fd00:81::2"


def test_multicast_flooding_interoperates_with_kernel_vxlan(vtep_lab: Lab) -> None:
    reason = have_root_and_tools("ping")
    if reason:
        pytest.skip(reason)
    lab = vtep_lab
    lab.netns("pv-m1")
    lab.netns("pv-m2")
    lab.veth("pv-m1", "pvm1u", "pv-m2", "pvm2u")
    lab.address("pv-m1", "pvm1u", f"{KERNEL_IP}/24")
    lab.address("pv-m2", "pvm2u", f"{PYVTEP_IP}/24")
    socket_path = _group_vteps(lab, KERNEL_IP, PYVTEP_IP, GROUP, 1450, "pvm")

    _floods_both_ways(lab, socket_path, KERNEL_IP, "pvm.log")
    membership = lab.run("pv-m2", "ip", "maddr", "show", "dev", "pvm2u").stdout
    assert GROUP in membership  # pyvtep joined the group on the configured interface


def test_ipv6_multicast_flooding_interoperates_with_kernel_vxlan(vtep_lab: Lab) -> None:
    """Over IPv6 the group is joined with MLD and BUM leaves by IPV6_MULTICAST_IF; the IPv6 unicast ping
    between the VTEPs is the positive control that the underlay itself works."""
    reason = have_root_and_tools("ping")
    if reason:
        pytest.skip(reason)
    lab = vtep_lab
    lab.netns("pv-m1")
    lab.netns("pv-m2")
    lab.veth("pv-m1", "pvm1u", "pv-m2", "pvm2u")
    lab.run("pv-m1", "ip", "-6", "addr", "add", f"{KERNEL_IP6}/64", "dev", "pvm1u", "nodad")
    lab.run("pv-m2", "ip", "-6", "addr", "add", f"{PYVTEP_IP6}/64", "dev", "pvm2u", "nodad")
    socket_path = _group_vteps(lab, KERNEL_IP6, PYVTEP_IP6, GROUP6, 1430, "pvm6")
    assert GROUP6 in lab.run("pv-m2", "ip", "-6", "maddr", "show", "dev", "pvm2u").stdout  # MLD join on dev
    assert ping(lab, "pv-m2", KERNEL_IP6, count=1)  # positive control: the IPv6 underlay carries unicast

    _floods_both_ways(lab, socket_path, KERNEL_IP6, "pvm6.log")



def _group_vteps(lab: Lab, kernel_ip: str, pyvtep_ip: str, group: str, mtu: int, log: str) -> Path:
    """Kernel VXLAN in pv-m1 and pyvtep in pv-m2 on the underlay pvm1u-pvm2u (addressed by the caller),
    both flooding VNI `VNI` to `group`; returns pyvtep's API socket after checking it took the group."""
    lab.run("pv-m1", "ip", "link", "add", f"vx{VNI}", "type", "vxlan", "id", str(VNI), "dstport", "4789",
            "group", group, "dev", "pvm1u", "local", kernel_ip)
    lab.run("pv-m1", "ip", "link", "set", f"vx{VNI}", "mtu", str(mtu))
    lab.address("pv-m1", f"vx{VNI}", "192.168.81.1/24")
    lab.run("pv-m1", "ip", "link", "set", f"vx{VNI}", "up")
    _process, _config, socket_path = lab.pyvtep("pv-m2", {
        "local_ip": pyvtep_ip, "underlay_interface": "pvm2u",
        "vnis": [{"vni": VNI, "tap": f"pvt{VNI}", "address": "192.168.81.2/24", "group": group}],
    }, log)
    (row,) = request(socket_path, "vnis")
    assert row["group"] == group and row["flood"] == [group]
    return socket_path

def _floods_both_ways(lab: Lab, socket_path: Path, kernel_ip: str, log: str) -> None:
    """pyvtep (pv-m2) and kernel VXLAN (pv-m1) reach each other through the group both ways, and pyvtep
    learns the kernel VTEP's MAC behind `kernel_ip`."""
    assert ping(lab, "pv-m2", "192.168.81.1", count=2), lab.log(log)  # pyvtep floods to the group
    counters = request(socket_path, "counters")["vnis"][str(VNI)]
    assert counters["tx_flood_packets"] >= 1 and counters["tx_drop_no_destination"] == 0
    lab.run("pv-m1", "ip", "neigh", "flush", "all")
    lab.run("pv-m2", "ip", "neigh", "flush", "all")
    rx_before = counters["rx_packets"]
    assert ping(lab, "pv-m1", "192.168.81.2", count=2)  # the kernel floods to the group, pyvtep listens
    assert request(socket_path, "counters")["vnis"][str(VNI)]["rx_packets"] > rx_before
    kernel_mac = lab.run("pv-m1", "cat", f"/sys/class/net/vx{VNI}/address").stdout.strip()
    learned = {r["mac"]: r for r in request(socket_path, "macs", vni=VNI)}
    assert learned[kernel_mac]["remote"] == kernel_ip and learned[kernel_mac]["type"] == "learned"
