"""Packet building for the monitor tests: plain struct code, independent of the decoder under test.

`random_frame` makes structurally varied frames (outer Ethernet with 0-2 tags, IPv4 with options or
IPv6 with extension headers, fragments, VXLAN / GBP / GPE headers with good and bad flags, inner
Ethernet with tags, IPv4/IPv6/ARP/other, TCP/UDP/ICMP) and `mutate` damages them (bit flips, cuts,
random bytes), so fuzzing covers both valid and broken input.
"""

from __future__ import annotations

import random
import struct

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def mac(value: int) -> bytes:
    return value.to_bytes(6, "big")


def ipv4_header(src: bytes, dst: bytes, proto: int, payload_len: int, options: bytes = b"",
                ident: int = 1, fragment: int = 0) -> bytes:
    header_len = 20 + len(options)
    return struct.pack(">BBHHHBBH4s4s", 0x40 | header_len // 4, 0, header_len + payload_len, ident, fragment,
                       64, proto, 0, src, dst) + options


def ipv6_header(src: bytes, dst: bytes, next_header: int, payload_len: int) -> bytes:
    return struct.pack(">IHBB16s16s", 0x60000000, payload_len, next_header, 64, src, dst)


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def vxlan_header(vni: int, flags: int = 0x08, b1: int = 0, b2: int = 0, b3: int = 0, b7: int = 0) -> bytes:
    return bytes([flags, b1, b2, b3]) + (vni << 8 | b7).to_bytes(4, "big")


def ethernet(dst: int, src: int, ethertype: int, payload: bytes, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    frame = mac(dst) + mac(src)
    for tpid, vid in tags:
        frame += struct.pack(">HH", tpid, vid)
    return frame + struct.pack(">H", ethertype) + payload


def vxlan_frame(vni: int, inner: bytes, src: str = "10.99.0.1", dst: str = "10.99.0.2", sport: int = 49152,
                dport: int = 4789, flags: int = 0x08, outer_v6: bool = False) -> bytes:
    """A complete outer Ethernet/IP/UDP/VXLAN frame around `inner`."""
    payload = udp(sport, dport, vxlan_header(vni, flags) + inner)
    if outer_v6:
        return ethernet(0x020000000002, 0x020000000001, 0x86DD,
                        ipv6_header(_v6(src), _v6(dst), 17, len(payload)) + payload)
    return ethernet(0x020000000002, 0x020000000001, 0x0800, ipv4_header(_v4(src), _v4(dst), 17, len(payload)) + payload)


def inner_ipv4_udp(src: str, dst: str, sport: int, dport: int, size: int = 0, dst_mac: int = 0x0200000000B2,
                   src_mac: int = 0x0200000000B1, vlan: int | None = None, proto: int = 17) -> bytes:
    body = bytes(max(0, size))
    l4 = struct.pack(">HHHH", sport, dport, 8 + len(body), 0) + body if proto == 17 else struct.pack(
        ">HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x10, 1024, 0, 0) + body
    tags = ((0x8100, vlan),) if vlan is not None else ()
    return ethernet(dst_mac, src_mac, 0x0800, ipv4_header(_v4(src), _v4(dst), proto, len(l4)) + l4, tags)


def _v4(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def _v6(text: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(text).packed


# --- random structures for fuzzing --------------------------------------------------------------------


def random_inner(rng: random.Random) -> bytes:
    kind = rng.choice(("v4", "v4", "v6", "arp", "other", "v4opt", "v4frag", "v6ext"))
    tags = tuple((rng.choice(VLAN_TPIDS), rng.randrange(4096)) for _ in range(rng.choice((0, 0, 1, 2, 3))))
    dst = rng.choice((0xFFFFFFFFFFFF, 0x01005E000001, rng.getrandbits(48) & ~(1 << 40)))
    src = rng.getrandbits(48) & ~(1 << 40)
    if kind == "arp":
        payload = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, rng.choice((1, 2)), mac(src), rng.randbytes(4),
                              bytes(6), rng.randbytes(4))
        if rng.random() < 0.2:
            payload = struct.pack(">HH", 6, 0x0800) + payload[4:]
        return ethernet(dst, src, 0x0806, payload, tags)
    if kind == "other":
        return ethernet(dst, src, rng.choice((0x88CC, 0x8847, 0x0842)), rng.randbytes(rng.randrange(0, 60)), tags)
    proto = rng.choice((6, 17, 1, 58, 132, 47, 89))
    l4 = struct.pack(">HH", rng.randrange(65536), rng.randrange(65536)) + rng.randbytes(rng.randrange(0, 40))
    if kind in ("v6", "v6ext"):
        extension = b""
        next_header = proto
        if kind == "v6ext":
            choice = rng.choice((0, 43, 60, 44, 51))
            if choice == 44:
                extension = struct.pack(">BBHI", proto, 0, rng.choice((0, 8, 1, 9)), rng.getrandbits(32))
            elif choice == 51:
                extension = bytes([proto, 1]) + rng.randbytes(6)
            else:
                extension = bytes([proto, 0]) + rng.randbytes(6)
            next_header = choice
        payload = ipv6_header(rng.randbytes(16), rng.randbytes(16), next_header, len(extension) + len(l4))
        return ethernet(dst, src, 0x86DD, payload + extension + l4, tags)
    options = rng.randbytes(4 * rng.randrange(1, 11)) if kind == "v4opt" else b""
    fragment = rng.choice((0x2000, 0x0010, 0x2010)) if kind == "v4frag" else 0
    return ethernet(dst, src, 0x0800, ipv4_header(rng.randbytes(4), rng.randbytes(4), proto, len(l4), options,
                                                  fragment=fragment) + l4, tags)


def random_frame(rng: random.Random) -> bytes:
    """One frame with an outer stack (mostly VXLAN) and a random inner frame."""
    flags = rng.choice((0x08, 0x08, 0x08, 0x88, 0x0C, 0x00, 0x09, 0x48, 0x8C, 0x3C))
    b1 = rng.choice((0, 0, 0x40, 0x08, 0x01))
    b3 = rng.choice((0, 0, 3, 1, 2, 4)) if flags & 0x04 else rng.choice((0, 0, 0, 5))
    inner = random_inner(rng)
    if flags & 0x04 and b3 in (1, 2):
        inner = inner[14:]
    header = vxlan_header(rng.randrange(1 << 24), flags, b1, rng.choice((0, 0, 7)), b3, rng.choice((0, 0, 0, 9)))
    dport = rng.choice((4789, 4789, 8472, 4790, 53, 6081))
    payload = udp(rng.randrange(65536), dport, header + inner)
    if rng.random() < 0.05:  # wrong UDP length
        payload = payload[:4] + struct.pack(">H", rng.randrange(65536)) + payload[6:]
    outer = rng.choice(("v4", "v4", "v4", "v6", "v6ext", "v4opt", "tcp"))
    proto = 6 if outer == "tcp" else 17
    if outer.startswith("v6"):
        extension, next_header = b"", proto
        if outer == "v6ext":
            extension, next_header = bytes([proto, 0]) + rng.randbytes(6), rng.choice((0, 60, 43))
        ip = ipv6_header(rng.randbytes(16), rng.randbytes(16), next_header, len(extension) + len(payload)) + extension
        ethertype = 0x86DD
    else:
        options = rng.randbytes(4 * rng.randrange(1, 11)) if outer == "v4opt" else b""
        ip = ipv4_header(rng.randbytes(4), rng.randbytes(4), proto, len(payload), options)
        ethertype = 0x0800
    tags = tuple((rng.choice(VLAN_TPIDS), rng.randrange(4096)) for _ in range(rng.choice((0, 0, 0, 1, 2, 3))))
    return ethernet(rng.getrandbits(48), rng.getrandbits(48), ethertype, ip + payload, tags)


def mutate(rng: random.Random, frame: bytes) -> bytes:
    """Damage a frame: cut it, flip bits, overwrite bytes, or replace it with noise."""
    choice = rng.random()
    if choice < 0.3:
        return frame[: rng.randrange(len(frame) + 1)]
    data = bytearray(frame)
    if choice < 0.8 and data:
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if choice < 0.95 and data:
        start = rng.randrange(len(data))
        data[start : start + 8] = rng.randbytes(min(8, len(data) - start))
        return bytes(data)
    return rng.randbytes(rng.randrange(0, 200))


def write_pcap(path: object, frames: list[tuple[float, bytes]], linktype: int = 1) -> None:
    """A classic microsecond pcap of (timestamp, frame) pairs."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for ts, data in frames:
        seconds = int(ts)
        out.append(struct.pack("<IIII", seconds, round((ts - seconds) * 1e6) % 1_000_000, len(data), len(data)))
        out.append(data)
    with open(path, "wb") as handle:
        handle.write(b"".join(out))
