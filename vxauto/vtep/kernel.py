"""Linux kernel interfaces pyvtep needs that Python's standard library does not wrap.

TAP devices with virtio-net headers and segmentation offload (`TUNSETIFF`, `TUNSETVNETHDRSZ`,
`TUNSETOFFLOAD`), UDP GSO/GRO socket options, and `recvmmsg`/`sendmmsg` through ctypes. Everything
here is a thin, typed wrapper; the packet logic lives in `datapath.py`.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
TUNGETFEATURES = 0x800454CF
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
TUN_F_USO4 = 0x20
TUN_F_USO6 = 0x40
TUN_F_UDP_TUNNEL_GSO = 0x80  # Linux 6.17+: the TAP takes UDP-tunnelled TSO super-frames on write
TUN_F_UDP_TUNNEL_GSO_CSUM = 0x100

# <linux/virtio_net.h>: the 12-byte header (virtio_net_hdr_v1 / mrg_rxbuf layout), little endian on x86.
VNET_HDR_LEN = 12
VNET_HDR = struct.Struct("<BBHHHHH")
VNET_F_NEEDS_CSUM = 1
VNET_F_DATA_VALID = 2
VNET_GSO_NONE = 0
VNET_GSO_TCPV4 = 1
VNET_GSO_UDP = 3
VNET_GSO_TCPV6 = 4
VNET_GSO_UDP_L4 = 5
VNET_GSO_ECN = 0x80
VNET_ZERO = bytes(VNET_HDR_LEN)
# virtio_net_hdr_v1_hash_tunnel (24 bytes): the 12 above, hash value/report/padding, then the offsets of
# the outer UDP header and of the inner network header (virtio 1.4, Linux 6.17+).
VNET_TUNNEL_HDR = struct.Struct("<BBHHHHHIHHHH")
VNET_F_UDP_TUNNEL_CSUM = 0x08
VNET_GSO_UDP_TUNNEL_IPV4 = 0x20

# <linux/udp.h>, <linux/in.h>, <asm-generic/socket.h>: not in Python's socket module.
SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IPV6_MTU_DISCOVER = 23  # <linux/in6.h>; takes the same IP_PMTUDISC_* values
SO_NO_CHECK = 11
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20

IFNAMSIZ = 16


@dataclass
class Tap:
    """An open TAP queue: its file descriptor, interface name and whether this process created it."""

    name: str
    fd: int
    created: bool
    offload: int

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # a non-persistent TAP disappears with its last file descriptor
            self.fd = -1


def interface_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def is_tun_device(name: str) -> bool:
    return Path("/sys/class/net", name, "tun_flags").exists()


def open_tap(name: str, offload: int) -> Tap:
    """Create (or attach to a persistent) TAP with virtio-net headers and the given offload flags.

    `offload` is a TUN_F_* mask; the kernel then hands us TCP/UDP super-frames of up to 64 KiB with a
    virtio-net header saying how to cut them, and accepts such super-frames from us.
    """
    if len(name.encode()) >= IFNAMSIZ:
        raise ValueError(f"interface name longer than {IFNAMSIZ - 1} characters: {name!r}")
    existed = interface_exists(name)
    if existed and not is_tun_device(name):
        raise ValueError(f"interface {name!r} exists and is not a TAP device")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
        fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR_LEN))
        fcntl.ioctl(fd, TUNSETOFFLOAD, offload)
    except OSError:
        os.close(fd)
        raise
    return Tap(name=name, fd=fd, created=not existed, offload=offload)


def open_tunnel_tap(name: str) -> Tap:
    """Create a TAP that takes encapsulated (UDP tunnel) TSO super-frames on write, for the kernel to cut.

    Raises OSError (EINVAL) on kernels before 6.17, which do not know the tunnel offload flags.
    """
    if len(name.encode()) >= IFNAMSIZ:
        raise ValueError(f"interface name longer than {IFNAMSIZ - 1} characters: {name!r}")
    if interface_exists(name):
        raise ValueError(f"interface {name!r} already exists")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
        fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET_TUNNEL_HDR.size))
        fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UDP_TUNNEL_GSO
                    | TUN_F_UDP_TUNNEL_GSO_CSUM)
    except OSError:
        os.close(fd)
        raise
    return Tap(name=name, fd=fd, created=True, offload=0)


def tap_offload_flags(tso: bool, uso: bool) -> int:
    flags = 0
    if tso or uso:
        flags |= TUN_F_CSUM
    if tso:
        flags |= TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN
    if uso:
        flags |= TUN_F_USO4 | TUN_F_USO6
    return flags


# ---------------------------------------------------------------------------------------------------
# UDP sockets


def udp_socket(
    bind_ip: str, port: int, *, df: bool, checksum: bool, gro: bool, buffer_bytes: int
) -> socket.socket:
    """A UDP socket for the underlay (IPv4 or IPv6, as `bind_ip` is): DF as configured, large buffers,
    GRO on receive if asked. Over IPv6 "DF" means no fragmentation by this host (routers never fragment)."""
    ipv6 = ":" in bind_ip
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        level, option = (socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER) if ipv6 else (socket.IPPROTO_IP, IP_MTU_DISCOVER)
        sock.setsockopt(level, option, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT)
        if ipv6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if not checksum:
            sock.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
        _set_buffers(sock, buffer_bytes)
        if gro:
            sock.setsockopt(SOL_UDP, UDP_GRO, 1)
        sock.bind((bind_ip, port))
    except OSError:
        sock.close()
        raise
    return sock


def multicast_socket(group: str, port: int, interface: str | None, *, gro: bool, buffer_bytes: int) -> socket.socket:
    """A UDP socket receiving `group`:`port` only (bound to the group address), joined on `interface`
    (or on the interface the route to the group names). IPv4 joins with IGMP, IPv6 with MLD."""
    ifindex = socket.if_nametoindex(interface) if interface else 0
    ipv6 = ":" in group
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _set_buffers(sock, buffer_bytes)
        if gro:
            sock.setsockopt(SOL_UDP, UDP_GRO, 1)
        if ipv6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((group, port, 0, ifindex))
            # struct ipv6_mreq: multicast address, interface index (0: the route's interface)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                            socket.inet_pton(socket.AF_INET6, group) + struct.pack("=I", ifindex))
        else:
            sock.bind((group, port))
            # struct ip_mreqn: multicast address, local address (any), interface index
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                            socket.inet_aton(group) + bytes(4) + struct.pack("=i", ifindex))
    except OSError:
        sock.close()
        raise
    return sock


MULTICAST_HOPS = 1  # like kernel VXLAN, whose multicast TTL / hop limit is 1 unless `ttl` is set


def send_multicast_on(sock: socket.socket, interface: str | None) -> None:
    """Multicast from this socket leaves by `interface` (else by the route), with a hop limit of 1, and is
    not looped back to us."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, MULTICAST_HOPS)
        if interface:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(interface))
        return
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_HOPS)
    if interface:
        mreqn = bytes(8) + struct.pack("=i", socket.if_nametoindex(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)


def _set_buffers(sock: socket.socket, size: int) -> None:
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)  # root may exceed net.core.*mem_max
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)


def gso_control(segment_size: int) -> list[tuple[int, int, bytes]]:
    """The sendmsg ancillary data asking the kernel to cut one buffer into `segment_size` datagrams."""
    return [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", segment_size))]


# ---------------------------------------------------------------------------------------------------
# recvmmsg / sendmmsg through ctypes (the socket module has neither)

_libc = ctypes.CDLL(None, use_errno=True)
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int
_sendmsg = _libc.sendmsg
_sendmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_sendmsg.restype = ctypes.c_ssize_t

# x86_64 / aarch64 layouts: struct iovec = 16 bytes, struct mmsghdr = 64 bytes (msghdr 56 + msg_len + pad).
IOVEC = struct.Struct("=QQ")
MMSGHDR_SIZE = 64
SOCKADDR_IN_SIZE = 16
SOCKADDR_IN6_SIZE = 28
SOCKADDR_MAX = SOCKADDR_IN6_SIZE  # receive slots hold either
CONTROL_SIZE = 32
# Offsets in units of uint32 inside one mmsghdr, used through a memoryview cast to "I".
_U32_NAMELEN = 2
_U32_CONTROLLEN = 10
_U32_FLAGS = 12
_U32_MSGLEN = 14
_MMSG_TEMPLATE = struct.Struct("=QI4xQQQQi4xI4x")
_MSGHDR = struct.Struct("=QI4xQQQQi4x")
_GSO_CMSG = struct.Struct("=QiiH6x")  # struct cmsghdr + the 16-bit segment size, padded to CMSG_SPACE(2)


def _address_of(buffer: ctypes.Array) -> int:
    return ctypes.addressof(buffer)


class RecvBatch:
    """`count` receive slots for one recvmmsg call, each `slot_size` bytes, starting `headroom` bytes in.

    The headroom lets the decapsulated inner frame be preceded by a virtio-net header in place.
    """

    def __init__(self, count: int, slot_size: int, headroom: int) -> None:
        self.count = count
        self.slot_size = slot_size
        self.headroom = headroom
        self.data = ctypes.create_string_buffer(count * slot_size)
        self.names = ctypes.create_string_buffer(count * SOCKADDR_MAX)
        self.controls = ctypes.create_string_buffer(count * CONTROL_SIZE)
        self.iovecs = ctypes.create_string_buffer(count * IOVEC.size)
        self.headers = ctypes.create_string_buffer(count * MMSGHDR_SIZE)
        self.view = memoryview(self.data).cast("B")
        self.name_view = memoryview(self.names).cast("B")
        self.control_view = memoryview(self.controls).cast("B")
        self.header_words = memoryview(self.headers).cast("B").cast("I")
        data_base, iov_base = _address_of(self.data), _address_of(self.iovecs)
        names_base, controls_base = _address_of(self.names), _address_of(self.controls)
        template = bytearray()
        for i in range(count):
            IOVEC.pack_into(self.iovecs, i * IOVEC.size, data_base + i * slot_size + headroom,
                            slot_size - headroom)
            template += _MMSG_TEMPLATE.pack(
                names_base + i * SOCKADDR_MAX, SOCKADDR_MAX, iov_base + i * IOVEC.size, 1,
                controls_base + i * CONTROL_SIZE, CONTROL_SIZE, 0, 0,
            )
        self.template = bytes(template)
        self.headers_address = _address_of(self.headers)

    def receive(self, fd: int) -> int:
        """One non-blocking recvmmsg; returns the number of datagrams (0 when nothing is waiting)."""
        ctypes.memmove(self.headers, self.template, len(self.template))
        got = _recvmmsg(fd, self.headers_address, self.count, MSG_DONTWAIT, None)
        if got < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EINTR):
                return 0
            raise OSError(err, os.strerror(err))
        return got

    def length(self, i: int) -> int:
        return self.header_words[i * 16 + _U32_MSGLEN]

    def truncated(self, i: int) -> bool:
        return bool(self.header_words[i * 16 + _U32_FLAGS] & MSG_TRUNC)

    def source_ip(self, i: int) -> bytes:
        """The sender's address: 4 bytes (sockaddr_in) or 16 (sockaddr_in6, family 10 in the first byte)."""
        offset = i * SOCKADDR_MAX
        if self.name_view[offset] == socket.AF_INET6:
            return bytes(self.name_view[offset + 8 : offset + 24])
        return bytes(self.name_view[offset + 4 : offset + 8])

    def gro_size(self, i: int) -> int:
        """The UDP_GRO segment size when the kernel coalesced several datagrams into slot i, else 0."""
        if self.header_words[i * 16 + _U32_CONTROLLEN] < 20:
            return 0
        level, kind, size = struct.unpack_from("=iii", self.control_view, i * CONTROL_SIZE + 8)
        if level == SOL_UDP and kind == UDP_GRO:
            return size
        return 0


class SendBatch:
    """Up to `count` datagrams for sendmmsg (or one UDP GSO sendmsg); each points at caller-owned memory.

    The caller writes message i's iovec into `iovecs` and its destination into `name_view` (noting it in
    `slot_names`), and keeps the referenced buffers alive until `send_range`/`send_gso` returns (they are
    ctypes buffers owned by the engine), so no bytes are copied in Python.
    """

    def __init__(self, count: int, name_size: int = SOCKADDR_IN_SIZE) -> None:
        self.count = count
        self.name_size = name_size  # bytes per destination: sockaddr_in (16) or sockaddr_in6 (28)
        self.names = ctypes.create_string_buffer(count * name_size)
        self.iovecs = ctypes.create_string_buffer(count * IOVEC.size)
        self.headers = ctypes.create_string_buffer(count * MMSGHDR_SIZE)
        names_base, iov_base = _address_of(self.names), _address_of(self.iovecs)
        for i in range(count):
            _MMSG_TEMPLATE.pack_into(
                self.headers, i * MMSGHDR_SIZE, names_base + i * name_size, name_size,
                iov_base + i * IOVEC.size, 1, 0, 0, 0, 0,
            )
        self.headers_address = _address_of(self.headers)
        self.used = 0
        # Slicing a memoryview is several times faster than slicing the ctypes array itself; and a message
        # slot that still holds the destination (the same bytes object) is not rewritten at all.
        self.name_view = memoryview(self.names).cast("B")
        self.slot_names: list[bytes | None] = [None] * count
        self.names_base, self.iov_base = names_base, iov_base
        self.gso_header = ctypes.create_string_buffer(_MSGHDR.size)
        self.gso_control = ctypes.create_string_buffer(_GSO_CMSG.size)
        self.gso_header_address = _address_of(self.gso_header)
        self.gso_control_address = _address_of(self.gso_control)

    def send_range(self, fd: int, start: int, count: int) -> set[int]:
        """sendmmsg messages start..start+count-1 on `fd`; returns the positions the kernel refused.

        A refused datagram (EMSGSIZE from the path MTU, ENOBUFS, ...) is skipped and the rest still go.
        """
        failed: set[int] = set()
        end = start + count
        while start < end:
            got = _sendmmsg(fd, self.headers_address + start * MMSGHDR_SIZE, end - start, 0)
            if got < 0:
                if ctypes.get_errno() == errno.EINTR:
                    continue
                failed.add(start)
                start += 1
                continue
            start += got
        return failed


    def send_gso(self, fd: int, start: int, count: int, segment_size: int) -> bool:
        """Send messages start..start+count-1 as one UDP GSO sendmsg: their buffers back to back, cut by
        the kernel every `segment_size` bytes. They must share message start's destination and size
        (the last may be shorter). False when the kernel refused it (nothing was sent then)."""
        _MSGHDR.pack_into(self.gso_header, 0, self.names_base + start * self.name_size, self.name_size,
                          self.iov_base + start * IOVEC.size, count, self.gso_control_address, _GSO_CMSG.size, 0)
        _GSO_CMSG.pack_into(self.gso_control, 0, 18, SOL_UDP, UDP_SEGMENT, segment_size)  # CMSG_LEN(2) == 18
        while _sendmsg(fd, self.gso_header_address, 0) < 0:
            if ctypes.get_errno() != errno.EINTR:
                return False
        return True


class SegmentBatch:
    """sendmmsg for the wire frames of one segmented super-frame: each message is two buffers, a header
    copied into our own memory and a payload slice that stays where the TAP read put it."""

    HEADER_SLOT = 256

    def __init__(self, count: int = 64, name_size: int = SOCKADDR_IN_SIZE) -> None:
        self.count = count
        self.header_buffer = ctypes.create_string_buffer(count * self.HEADER_SLOT)
        self.iovecs = ctypes.create_string_buffer(count * 2 * IOVEC.size)
        self.name_size = name_size
        self.names = ctypes.create_string_buffer(count * name_size)
        self.headers = ctypes.create_string_buffer(count * MMSGHDR_SIZE)
        self.header_base = _address_of(self.header_buffer)
        names_base, iov_base = _address_of(self.names), _address_of(self.iovecs)
        for i in range(count):
            _MMSG_TEMPLATE.pack_into(
                self.headers, i * MMSGHDR_SIZE, names_base + i * name_size, name_size,
                iov_base + i * 2 * IOVEC.size, 2, 0, 0, 0, 0,
            )
        self.headers_address = _address_of(self.headers)
        self._two = struct.Struct("=QQQQ")

    def send(self, fd: int, pieces: list[tuple[bytes, memoryview]], payload_address: int, stride: int,
             sockaddr: bytes) -> int:
        """Send every piece; payload i lives at payload_address + i * stride. Returns how many went."""
        sent = 0
        pack = self._two.pack_into
        for first in range(0, len(pieces), self.count):
            group = pieces[first : first + self.count]
            for i, (header, payload) in enumerate(group):
                where = i * self.HEADER_SLOT
                # c_char arrays take bytes for a slice; mypy's ctypes plugin only allows a list there.
                self.header_buffer[where : where + len(header)] = header  # type: ignore[call-overload]
                pack(self.iovecs, i * 32, self.header_base + where, len(header),
                     payload_address + (first + i) * stride, len(payload))
                # c_char arrays take bytes for a slice; mypy's ctypes plugin only allows a list there.
                self.names[i * self.name_size : (i + 1) * self.name_size] = sockaddr  # type: ignore[call-overload]
            start, end = 0, len(group)
            while start < end:
                got = _sendmmsg(fd, self.headers_address + start * MMSGHDR_SIZE, end - start, 0)
                if got < 0:
                    if ctypes.get_errno() != errno.EINTR:
                        start += 1  # skip the refused datagram, send the rest
                    continue
                sent += got
                start += got
        return sent


def sockaddr_in(ip: str, port: int) -> bytes:
    """A struct sockaddr_in, the form sendmmsg wants for the destination."""
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(ip) + bytes(8)


def sockaddr(ip: str, port: int) -> bytes:
    """struct sockaddr_in (16 bytes) for an IPv4 address, struct sockaddr_in6 (28 bytes) for IPv6."""
    if ":" not in ip:
        return sockaddr_in(ip, port)
    # family, port, flow info 0, address, scope id 0 (the config refuses link-local addresses)
    return (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0) + socket.inet_pton(socket.AF_INET6, ip)
            + bytes(4))


def sockaddr_size(ipv6: bool) -> int:
    return SOCKADDR_IN6_SIZE if ipv6 else SOCKADDR_IN_SIZE


def buffer_address(buffer: ctypes.Array, offset: int = 0) -> int:
    return ctypes.addressof(buffer) + offset
