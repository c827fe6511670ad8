"""The decoded VXLAN packets as columns (one numpy array per field, one row per VXLAN packet).

Addresses are kept as two unsigned 64-bit halves so IPv4, IPv6 and MAC addresses fit one shape and can
be grouped with numpy: IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), IPv6 as is, a MAC (used as the
address of non-IP inner frames) in the low half.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np

#: High 64 bits are 0 and the low 64 bits carry this prefix for an IPv4-mapped address.
IPV4_MAPPED = 0xFFFF_0000_0000

VARIANT_VXLAN, VARIANT_GBP, VARIANT_GPE = 0, 1, 2
VARIANT_NAMES = {VARIANT_VXLAN: "vxlan", VARIANT_GBP: "vxlan-gbp", VARIANT_GPE: "vxlan-gpe"}

FLAG_NO_I = 1  # the I flag (VNI valid) is not set
FLAG_RESERVED = 2  # a reserved bit or reserved field is not zero

INNER_OK, INNER_TRUNCATED, INNER_MALFORMED, INNER_NOT_ETHERNET = 0, 1, 2, 3

COLUMNS: tuple[tuple[str, type], ...] = (
    ("ts_ns", np.int64),
    ("wire_len", np.int64),  # outer frame length on the wire (sum over fragments if reassembled)
    ("outer_ip_len", np.int64),  # outer IP datagram length
    ("outer_version", np.uint8),
    ("outer_src_hi", np.uint64),
    ("outer_src_lo", np.uint64),
    ("outer_dst_hi", np.uint64),
    ("outer_dst_lo", np.uint64),
    ("fragmented", np.bool_),  # reassembled from outer IP fragments
    ("udp_sport", np.uint16),
    ("udp_dport", np.uint16),
    ("variant", np.uint8),
    ("flags", np.uint8),  # the first VXLAN header byte as sent
    ("flag_problems", np.uint8),  # FLAG_* bits
    ("vni", np.uint32),
    ("inner_len", np.int64),  # inner frame length (UDP payload minus the 8-byte VXLAN header)
    ("inner_status", np.uint8),
    ("inner_dst_mac", np.uint64),
    ("inner_src_mac", np.uint64),
    ("inner_tags", np.uint8),  # 802.1Q/802.1ad tags on the inner frame
    ("inner_vlan", np.uint16),  # VLAN ID of the first inner tag
    ("inner_ethertype", np.uint16),
    ("inner_src_hi", np.uint64),
    ("inner_src_lo", np.uint64),
    ("inner_dst_hi", np.uint64),
    ("inner_dst_lo", np.uint64),
    ("inner_proto", np.uint8),
    ("inner_sport", np.uint16),  # TCP/UDP/SCTP port; ICMP type; ARP opcode
    ("inner_dport", np.uint16),  # TCP/UDP/SCTP port; ICMP code
    ("inner_hash", np.uint64),  # groupby.fingerprint of the inner frame's first 64 bytes (matches copies across taps)
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)


@dataclass
class PacketTable:
    """Columns of decoded VXLAN packets; `columns[name]` is a numpy array, all of one length."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["vni"])

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def empty(cls) -> PacketTable:
        return cls({name: np.zeros(0, dtype) for name, dtype in COLUMNS})

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> PacketTable:
        if not rows:
            return cls.empty()
        values = list(zip(*rows, strict=True))
        return cls({name: np.array(values[i], dtype) for i, (name, dtype) in enumerate(COLUMNS)})

    @classmethod
    def concat(cls, tables: list[PacketTable]) -> PacketTable:
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls.empty()
        if len(tables) == 1:
            return tables[0]
        return cls({name: np.concatenate([t.columns[name] for t in tables]) for name in COLUMN_NAMES})

    def select(self, mask_or_index: np.ndarray) -> PacketTable:
        return PacketTable({name: array[mask_or_index] for name, array in self.columns.items()})

    def row(self, index: int) -> tuple:
        return tuple(self.columns[name][index].item() for name in COLUMN_NAMES)


def address_text(hi: int, lo: int) -> str:
    """The text form of an address stored as two 64-bit halves (IPv4-mapped shown as IPv4)."""
    address = ipaddress.IPv6Address((int(hi) << 64) | int(lo))
    return str(address.ipv4_mapped) if address.ipv4_mapped is not None else str(address)


def address_halves(text: str) -> tuple[int, int]:
    """Inverse of `address_text` for IPv4 and IPv6 addresses."""
    address = ipaddress.ip_address(text)
    value = (IPV4_MAPPED | int(address)) if address.version == 4 else int(address)
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF


def mac_text(value: int) -> str:
    raw = int(value).to_bytes(6, "big")
    return ":".join(f"{b:02x}" for b in raw)
