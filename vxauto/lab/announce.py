"""Announce a workload after live migration: gratuitous ARP and unsolicited neighbour advertisements.

What a hypervisor makes a migrated VM send so the network learns its new place at once: an ARP announcement
(RFC 5227: a request with sender and target set to the address) for every IPv4 address and an unsolicited
neighbour advertisement with the override flag (RFC 4861 section 7.2.6) for every IPv6 address of the
interface, each from the interface's own MAC, repeated a few times as QEMU repeats its announcements.
Runs inside the workload's namespace:

    python -m vxauto.lab.announce eth1 [--count 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import struct
import time
from pathlib import Path

from pyroute2 import IPRoute

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES_MAC = bytes.fromhex("333300000001")
ALL_NODES = ipaddress.IPv6Address("ff02::1")
NA_OVERRIDE = 0x20000000


def interface_mac(interface: str) -> bytes:
    return bytes.fromhex(Path(f"/sys/class/net/{interface}/address").read_text().strip().replace(":", ""))


def addresses(interface: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=interface)
        if not index:
            raise SystemExit(f"no interface {interface}")
        return [ipaddress.ip_address(a.get_attr("IFA_ADDRESS")) for a in ipr.get_addr(index=index[0])]


def arp_announcement(mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    ip = address.packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\x00" * 6, ip)
    return BROADCAST + mac + struct.pack("!H", ETH_P_ARP) + arp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na(mac: bytes, address: ipaddress.IPv6Address) -> bytes:
    option = struct.pack("!BB6s", 2, 1, mac)  # target link-layer address
    body = struct.pack("!BBHI16s", 136, 0, 0, NA_OVERRIDE, address.packed) + option
    pseudo = address.packed + ALL_NODES.packed + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", _checksum(pseudo + body)) + body[4:]
    header = struct.pack("!IHBB16s16s", 6 << 28, len(body), 58, 255, address.packed, ALL_NODES.packed)
    return ALL_NODES_MAC + mac + struct.pack("!H", ETH_P_IPV6) + header + body


def frames(interface: str) -> list[bytes]:
    mac = interface_mac(interface)
    out = []
    for address in addresses(interface):
        if isinstance(address, ipaddress.IPv4Address):
            out.append(arp_announcement(mac, address))
        else:
            out.append(unsolicited_na(mac, address))
    return out


def announce(interface: str, count: int = 3, interval: float = 0.05) -> int:
    """Send the announcements `count` times; returns the number of frames sent."""
    to_send = frames(interface)
    sent = 0
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind((interface, 0))
        for round_ in range(count):
            for frame in to_send:
                raw.send(frame)
                sent += 1
            if round_ + 1 < count:
                time.sleep(interval * (round_ + 1))
    return sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vxauto.lab.announce", description=__doc__.splitlines()[0])
    parser.add_argument("interface")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args(argv)
    print(announce(args.interface, args.count))


if __name__ == "__main__":
    main()
