"""Kernel segmentation of encapsulated TCP super-frames: what a NIC with VXLAN TSO does for a kernel VTEP.

A TSO super-frame read from a local TAP is wrapped, whole, in one outer Ethernet/IPv4/UDP/VXLAN header
and written to a second TAP (the "GSO TAP") with a virtio-net header that marks it as a UDP-tunnel GSO
packet (`VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4`, Linux 6.17+). The kernel receives it on that TAP and
forwards it to the peer VTEP like any routed packet; where it has to leave as wire frames (a real NIC,
or a veth with tunnel segmentation off) the kernel's GSO cuts it into MSS-sized VXLAN datagrams with
their own inner TCP/IP and outer headers and checksums, exactly as for its own VXLAN devices. Over a
veth with tunnel offload on, the super-packet reaches the peer uncut, as a kernel VTEP's would.

This replaces cutting the frame in Python (`vectorised_gso.segment_tcp_gso`): one `writev` per super-frame
and destination instead of numpy work, a 64 KiB copy and two UDP GSO `sendmsg` calls. It needs IPv4
forwarding on the GSO TAP only (see `links.prepare_forwarding_tap`); a netfilter FORWARD policy that
drops must let the underlay's VXLAN packets out of that TAP.

The header layout follows the virtio 1.4 network device (`VIRTIO_NET_F_HOST_UDP_TUNNEL_GSO`, struct
`virtio_net_hdr_v1_hash_tunnel`) and the checks of Linux's `virtio_net_hdr_tnl_to_skb()`: offsets count
from the outer Ethernet header, `csum_start` is the inner TCP header, `inner_nh_offset` the inner IP header.
"""

from __future__ import annotations

import os
import socket
import struct
import zlib
from pathlib import Path

from vxauto.vtep import kernel
from vxauto.vtep.headers import Layers
from vxauto.vtep.kernel import VNET_F_NEEDS_CSUM, VNET_F_UDP_TUNNEL_CSUM, VNET_GSO_UDP_TUNNEL_IPV4, VNET_TUNNEL_HDR
from vxauto.vtep.links import LinkError, prepare_forwarding_tap
from vxauto.vtep.packet import VXLAN_HEADER_LEN, fold

OUTER_LEN = 14 + 20 + 8 + VXLAN_HEADER_LEN  # outer Ethernet + IPv4 + UDP + VXLAN
_OUTER = struct.Struct("!6s6sHBBHHHBBH4s4sHHHH")  # Ethernet, IPv4 without options, UDP; VXLAN appended
_SOURCE_MAC = bytes.fromhex("020000000001")  # locally administered; the kernel replaces it when forwarding
_TCP_CHECKSUM_OFFSET = 16


def gso_tap_name(vtep_name: str) -> str:
    """A per-instance interface name (15 characters at most) derived from the pyvtep name."""
    return f"pvgso{zlib.crc32(vtep_name.encode()) & 0xFFFFFFFF:08x}"[:15]


class TunnelHeaders:
    """The virtio-net tunnel header and outer headers for super-frames from one VTEP (no I/O: testable)."""

    def __init__(self, tap_mac: bytes, local_ip: str, port: int, df: bool, udp_checksum: bool) -> None:
        self.tap_mac = tap_mac
        self.local = socket.inet_aton(local_ip)
        self.port = port
        self.fragment = 0x4000 if df else 0
        self.udp_checksum = udp_checksum
        self.ip_id = 0
        self._local_sum = int.from_bytes(self.local, "big") % 0xFFFF
        # IPv4 header sum without total length, ID, checksum and destination (those change per packet).
        self._ip_constant = 0x4500 + self.fragment + (64 << 8) + 17 + self._local_sum
        self._remotes: dict[str, tuple[bytes, int]] = {}

    def _remote(self, remote: str) -> tuple[bytes, int]:
        cached = self._remotes.get(remote)
        if cached is None:
            packed = socket.inet_aton(remote)
            cached = self._remotes[remote] = (packed, int.from_bytes(packed, "big") % 0xFFFF)
        return cached

    def build(self, frame_length: int, layers: Layers, gso_type: int, mss: int, segments: int, remote: str,
              source_port: int, vxlan_header: bytes) -> tuple[bytes, bytes]:
        """(virtio-net tunnel header, outer Ethernet/IPv4/UDP/VXLAN headers) for one super-frame.

        The outer frame is addressed to the GSO TAP's own MAC, so the kernel takes it as its own to
        route. The outer IPv4 ID advances by the number of segments (GSO numbers them ID, ID + 1, ...);
        the outer UDP checksum starts as the pseudo-header sum, which GSO completes per datagram.
        """
        packed, remote_sum = self._remote(remote)
        udp_length = 8 + VXLAN_HEADER_LEN + frame_length
        total = 20 + udp_length
        ident = self.ip_id
        self.ip_id = (ident + segments) & 0xFFFF
        ip_checksum = 0xFFFF - fold(self._ip_constant + total + ident + remote_sum)
        udp_check = fold(self._local_sum + remote_sum + 17 + udp_length) if self.udp_checksum else 0
        outer = _OUTER.pack(self.tap_mac, _SOURCE_MAC, 0x0800, 0x45, 0, total, ident, self.fragment, 64, 17,
                            ip_checksum, self.local, packed, source_port, self.port, udp_length,
                            udp_check) + vxlan_header
        flags = VNET_F_NEEDS_CSUM | (VNET_F_UDP_TUNNEL_CSUM if self.udp_checksum else 0)
        vnet = VNET_TUNNEL_HDR.pack(flags, gso_type | VNET_GSO_UDP_TUNNEL_IPV4, OUTER_LEN + layers.payload, mss,
                                    OUTER_LEN + layers.l4, _TCP_CHECKSUM_OFFSET, 0, 0, 0, 0, 14 + 20,
                                    OUTER_LEN + layers.l3)
        return vnet, outer


def forwarded_datagrams(snmp: Path = Path("/proc/net/snmp")) -> int | None:
    """IPv4 ForwDatagrams of this network namespace (counted after the netfilter FORWARD hook)."""
    try:
        names, values = (line.split() for line in snmp.read_text().splitlines() if line.startswith("Ip: "))
        return int(values[names.index("ForwDatagrams")])
    except (OSError, ValueError):
        return None


class KernelSegmenter:
    """The GSO TAP and the header builder; `send()` hands one super-frame to the kernel.

    `healthy()` is the safety net for what cannot be checked up front: a netfilter FORWARD rule or a
    routing change that makes the kernel drop what we write (silently, from our side). When super-frames
    were written since the last check but the namespace forwarded nothing, or every write failed, the
    engine stops using the GSO TAP and cuts super-frames itself again.
    """

    CHECK_MINIMUM = 16  # super-frames written between two checks before a verdict is given

    def __init__(self, name: str, local_ip: str, port: int, df: bool, udp_checksum: bool) -> None:
        self.name = name
        self.tap = kernel.open_tunnel_tap(name)
        try:
            mac = prepare_forwarding_tap(name)
        except LinkError:
            self.tap.close()
            raise
        self.headers = TunnelHeaders(mac, local_ip, port, df, udp_checksum)
        self.written = self.failed = 0
        self._checked = (0, 0, forwarded_datagrams())

    def close(self) -> None:
        self.tap.close()  # the TAP disappears with its descriptor

    def healthy(self) -> str | None:
        """None while the kernel forwards what we write, else why not (see the class comment)."""
        written, failed, forwarded = self.written, self.failed, forwarded_datagrams()
        last_written, last_failed, last_forwarded = self._checked
        new_written, new_failed = written - last_written, failed - last_failed
        if new_written + new_failed < self.CHECK_MINIMUM:
            return None  # too little traffic since the last check to judge
        self._checked = (written, failed, forwarded)
        if not new_written:
            return f"the kernel refused all {new_failed} super-frames written to {self.name}"
        if forwarded is not None and last_forwarded is not None and forwarded == last_forwarded:
            return (f"{new_written} super-frames written to {self.name} were not forwarded (a netfilter FORWARD "
                    "rule, rp_filter or forwarding switched off on that TAP?)")
        return None

    def send(self, frame: memoryview, layers: Layers, gso_type: int, mss: int, segments: int, remote: str,
             source_port: int, vxlan_header: bytes) -> bool:
        """Write one encapsulated super-frame to the GSO TAP; False if the kernel refused it."""
        vnet, outer = self.headers.build(len(frame), layers, gso_type, mss, segments, remote, source_port,
                                         vxlan_header)
        try:
            os.writev(self.tap.fd, (vnet, outer, frame))
        except OSError:
            self.failed += 1
            return False
        self.written += 1
        return True
