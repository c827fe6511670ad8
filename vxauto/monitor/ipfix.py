"""IPFIX (RFC 7011) export of inner flows and VXLAN tunnels over UDP.

The VNI travels in layer2SegmentId (IE 351), encoded as Open vSwitch and VMware do: the top octet is
the segment type (0x01 = VXLAN), the low 24 bits the VNI. Inner flows use the standard 5-tuple,
counter and timestamp elements; tunnels (VTEP pair x VNI, what the underlay sees) use a template of
their own whose addresses are the VTEPs and whose octets are outer frame bytes.

Counters are delta counters: each `export()` sends what changed since the previous one, so a live
capture can export periodically and a file is exported once. Templates go with every export (UDP
collectors may start late, RFC 7011 section 8.4).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

from vxauto.monitor.analysis import NS, FlowSummary, PairSummary, Report

IPFIX_VERSION = 10
TEMPLATE_SET_ID = 2
MAX_MESSAGE = 1400  # stay below a 1500-byte path MTU with IP/UDP headers
SEGMENT_TYPE_VXLAN = 0x01
ICMP_NAMES = ("icmp", "icmpv6")

# Information elements (IANA IPFIX registry): id -> (name, length)
IE = {
    "octetDeltaCount": (1, 8), "packetDeltaCount": (2, 8), "protocolIdentifier": (4, 1),
    "sourceTransportPort": (7, 2), "sourceIPv4Address": (8, 4), "destinationTransportPort": (11, 2),
    "destinationIPv4Address": (12, 4), "sourceIPv6Address": (27, 16), "destinationIPv6Address": (28, 16),
    "sourceMacAddress": (56, 6), "destinationMacAddress": (80, 6), "flowStartMilliseconds": (152, 8),
    "flowEndMilliseconds": (153, 8), "ethernetType": (256, 2), "layer2SegmentId": (351, 8),
}
COUNTS = ("packetDeltaCount", "octetDeltaCount", "flowStartMilliseconds", "flowEndMilliseconds")


@dataclass(frozen=True)
class Template:
    template_id: int
    name: str
    fields: tuple[str, ...]

    @property
    def record_format(self) -> struct.Struct:
        codes = {1: "B", 2: "H", 4: "4s", 6: "6s", 8: "Q", 16: "16s"}
        return struct.Struct(">" + "".join(codes[IE[f][1]] for f in self.fields))

    def encode(self) -> bytes:
        specifiers = b"".join(struct.pack(">HH", *IE[f]) for f in self.fields)
        return struct.pack(">HH", self.template_id, len(self.fields)) + specifiers


TEMPLATES = {
    t.name: t
    for t in (
        Template(256, "inner-ipv4", ("layer2SegmentId", "sourceIPv4Address", "destinationIPv4Address",
                                     "protocolIdentifier", "sourceTransportPort", "destinationTransportPort", *COUNTS)),
        Template(257, "inner-ipv6", ("layer2SegmentId", "sourceIPv6Address", "destinationIPv6Address",
                                     "protocolIdentifier", "sourceTransportPort", "destinationTransportPort", *COUNTS)),
        Template(258, "inner-ethernet", ("layer2SegmentId", "sourceMacAddress", "destinationMacAddress",
                                         "ethernetType", *COUNTS)),
        Template(259, "inner-arp", ("layer2SegmentId", "ethernetType", "sourceIPv4Address",
                                    "destinationIPv4Address", *COUNTS)),
        Template(260, "tunnel-ipv4", ("layer2SegmentId", "sourceIPv4Address", "destinationIPv4Address",
                                      "protocolIdentifier", "destinationTransportPort", *COUNTS)),
        Template(261, "tunnel-ipv6", ("layer2SegmentId", "sourceIPv6Address", "destinationIPv6Address",
                                      "protocolIdentifier", "destinationTransportPort", *COUNTS)),
    )
}


def segment_id(vni: int) -> int:
    """layer2SegmentId of a VXLAN VNI."""
    return (SEGMENT_TYPE_VXLAN << 56) | vni


def _ms(ns: int) -> int:
    return ns // 1_000_000


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


class IpfixExporter:
    """Sends IPFIX messages over UDP to one collector."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4739, domain: int = 1, vxlan_port: int = 4789,
                 tunnel_domain: int | None = None) -> None:
        """`tunnel_domain`: send tunnel records in this observation domain (flows stay in `domain`), so that a
        collector adding up per VNI (pmacct's `vxlan` primitive) can keep inner flows and tunnels apart."""
        self.address = (host, port)
        self.domain = domain
        self.tunnel_domain = tunnel_domain
        self.vxlan_port = vxlan_port
        self.sequences: dict[int, int] = {}  # data records sent so far per observation domain (RFC 7011)
        self.sent_messages = 0
        self._exported: dict[tuple, tuple[int, int]] = {}  # record key -> (packets, octets) already exported
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)

    def close(self) -> None:
        self._socket.close()

    @property
    def sequence(self) -> int:
        """Data records sent so far in the main observation domain."""
        return self.sequences.get(self.domain, 0)

    def export(self, report: Report, now: float | None = None) -> int:
        """Send the changes since the last export; returns the number of data records sent."""
        flows, tunnels = list(self._flow_records(report)), list(self._tunnel_records(report))
        groups = ([(self.domain, flows + tunnels)] if self.tunnel_domain is None
                  else [(self.domain, flows), (self.tunnel_domain, tunnels)])
        export_time = int(now if now is not None else time.time())
        for domain, records in groups:
            messages = list(self.messages(records, export_time, domain))
            for message in messages:
                self._socket.sendto(message, self.address)
            self.sent_messages += len(messages)
        return len(flows) + len(tunnels)

    def messages(self, records: list[tuple[Template, bytes]], export_time: int,
                 domain: int | None = None) -> Iterator[bytes]:
        """Pack records into messages (templates first) of at most MAX_MESSAGE bytes, for `domain`
        (default: the exporter's)."""
        domain = self.domain if domain is None else domain
        sets = [_set(TEMPLATE_SET_ID, b"".join(t.encode() for t in TEMPLATES.values()))]
        size, count = 16 + len(sets[0]), 0
        current: list[bytes] = []
        template: Template | None = None
        for record_template, record in records:
            opens_set = record_template is not template or not current
            if current and (record_template is not template or size + 4 + sum(map(len, current)) + len(record)
                            > MAX_MESSAGE):
                sets.append(_set(template.template_id, b"".join(current)))  # type: ignore[union-attr]
                size, count, current = size + len(sets[-1]), count + len(current), []
                opens_set = True
            if opens_set and size + 4 + len(record) > MAX_MESSAGE:
                yield self._message(sets, export_time, count, domain)
                sets, size, count = [], 16, 0
            template = record_template
            current.append(record)
        if current:
            sets.append(_set(template.template_id, b"".join(current)))  # type: ignore[union-attr]
            count += len(current)
        if sets:
            yield self._message(sets, export_time, count, domain)

    def _message(self, sets: list[bytes], export_time: int, records: int, domain: int) -> bytes:
        body = b"".join(sets)
        sequence = self.sequences.get(domain, 0)
        header = struct.pack(">HHIII", IPFIX_VERSION, 16 + len(body), export_time, sequence % 2**32, domain)
        self.sequences[domain] = sequence + records
        return header + body

    # --- records --------------------------------------------------------------------------------------

    def _flow_records(self, report: Report) -> Iterator[tuple[Template, bytes]]:
        for flow in report.flows:
            record = self._flow_record(flow)
            if record is not None:
                yield record

    def _tunnel_records(self, report: Report) -> Iterator[tuple[Template, bytes]]:
        for pair in report.pairs:
            record = self._tunnel_record(pair)
            if record is not None:
                yield record

    def _delta(self, key: tuple, packets: int, octets: int) -> tuple[int, int] | None:
        before = self._exported.get(key, (0, 0))
        if packets <= before[0]:
            return None
        self._exported[key] = (packets, octets)
        return packets - before[0], octets - before[1]

    def _flow_record(self, flow: FlowSummary) -> tuple[Template, bytes] | None:
        key = ("flow", flow.vni, flow.ethertype, flow.src, flow.dst, flow.proto, flow.sport, flow.dport)
        delta = self._delta(key, flow.packets, flow.bytes)
        if delta is None:
            return None
        counts = (*delta, _ms(flow.first_ns), _ms(flow.last_ns))
        segment = segment_id(flow.vni)
        values: tuple[int | bytes, ...]  # the fields of the template chosen below, in its order
        if flow.ethertype in ("ipv4", "ipv6"):
            template = TEMPLATES[f"inner-{flow.ethertype}"]
            proto = _protocol_number(flow.proto)
            sport, dport = flow.sport, flow.dport
            if flow.proto in ICMP_NAMES:  # ICMP type and code go in the destination port, as NetFlow does
                sport, dport = 0, (flow.sport << 8) | flow.dport
            values = (segment, _packed(flow.src), _packed(flow.dst), proto, sport, dport, *counts)
        elif flow.ethertype == "arp":
            template = TEMPLATES["inner-arp"]
            values = (segment, 0x0806, _packed(flow.src), _packed(flow.dst), *counts)
        else:
            template = TEMPLATES["inner-ethernet"]
            ethertype = int(flow.ethertype, 16) if flow.ethertype.startswith("0x") else 0
            values = (segment, _mac(flow.src), _mac(flow.dst), ethertype, *counts)
        return template, template.record_format.pack(*values)

    def _tunnel_record(self, pair: PairSummary) -> tuple[Template, bytes] | None:
        key = ("tunnel", pair.src, pair.dst, pair.vni)
        delta = self._delta(key, pair.counters["packets"], pair.counters["wire_bytes"])
        if delta is None:
            return None
        version = ipaddress.ip_address(pair.src).version
        template = TEMPLATES[f"tunnel-ipv{version}"]
        values = (segment_id(pair.vni), _packed(pair.src), _packed(pair.dst), 17, self.vxlan_port, *delta,
                  _ms(pair.first_ns), _ms(pair.last_ns))
        return template, template.record_format.pack(*values)


def _set(set_id: int, content: bytes) -> bytes:
    return struct.pack(">HH", set_id, 4 + len(content)) + content


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def _protocol_number(name: str) -> int:
    from vxauto.monitor.analysis import PROTOCOL_NAMES

    numbers = {v: k for k, v in PROTOCOL_NAMES.items()}
    return numbers.get(name, int(name) if name.isdigit() else 0)


__all__ = ["NS", "TEMPLATES", "IpfixExporter", "segment_id"]
