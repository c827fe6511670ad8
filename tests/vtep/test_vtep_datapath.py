"""Datapath decisions (decapsulate, route, learn, age) and config validation, without I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxauto.errors import VxautoError
from vxauto.vtep.config import config_from_text, load_config
from vxauto.vtep.datapath import Datapath
from vxauto.vtep.fdb import Kind
from vxauto.vtep.packet import mac_bytes, vxlan_header

CONFIG = """
local_ip: 10.0.0.1
mac_aging: 60
vnis:
  - vni: 100
    flood: [10.0.0.2, 10.0.0.3]
    macs:
      - {mac: "02:00:00:00:00:99", remote: 10.0.0.9}
  - vni: 200
    inner_vlan: carry
    learning: false
"""
LOCAL = mac_bytes("02:00:00:00:00:01")
REMOTE = mac_bytes("02:00:00:00:00:02")
BROADCAST = b"\xff" * 6


def frame(dst: bytes, src: bytes, ethertype: bytes = b"\x08\x00", size: int = 60) -> bytes:
    return dst + src + ethertype + bytes(size - 14)


def datagram(vni: int, inner: bytes) -> memoryview:
    return memoryview(bytearray(vxlan_header(vni) + inner))


@pytest.fixture
def dp() -> Datapath:
    return Datapath(config_from_text(CONFIG))


def test_accept_delivers_and_learns_the_remote(dp: Datapath) -> None:
    result = dp.accept(datagram(100, frame(LOCAL, REMOTE)), "10.0.0.2")
    assert result is not None
    segment, inner, vnet = result
    assert segment.vni == 100 and bytes(inner) == frame(LOCAL, REMOTE) and vnet is None
    entry = segment.table.lookup(REMOTE)
    assert entry is not None and entry.remote == "10.0.0.2" and entry.kind == Kind.LEARNED
    assert segment.counters.rx_packets == 1 and dp.counters.accepted == 1


def test_accept_ignores_reserved_bits_but_requires_the_i_flag(dp: Datapath) -> None:
    noisy = bytearray(datagram(100, frame(LOCAL, REMOTE)))
    noisy[0] = 0xFF  # every flag bit set: only I matters
    noisy[1:4] = b"\xff\xff\xff"
    noisy[7] = 0xFF
    assert dp.accept(memoryview(noisy), "10.0.0.2") is not None
    noisy[0] = 0xF7  # everything but I
    assert dp.accept(memoryview(noisy), "10.0.0.2") is None
    assert dp.counters.drop_bad_flags == 1


def test_accept_counts_every_kind_of_bad_datagram(dp: Datapath) -> None:
    assert dp.accept(memoryview(b"\x08\0\0\0\0\0\x64"), "10.0.0.2") is None  # truncated header
    assert dp.accept(datagram(100, b"\x01" * 13), "10.0.0.2") is None  # truncated inner frame
    assert dp.accept(datagram(999, frame(LOCAL, REMOTE)), "10.0.0.2") is None
    assert dp.accept(datagram(100, frame(LOCAL, REMOTE, b"\x81\x00")), "10.0.0.2") is None
    assert dp.accept(datagram(100, frame(LOCAL, REMOTE, size=1465)), "10.0.0.2") is None
    c, vni = dp.counters, dp.segments[100].counters
    assert (c.drop_truncated, c.drop_unknown_vni, vni.rx_drop_inner_vlan, vni.rx_drop_oversized) == (2, 1, 1, 1)
    assert c.rx_datagrams == 5 and c.accepted == 0
    assert dp.accept(datagram(200, frame(LOCAL, REMOTE, b"\x81\x00")), "10.0.0.2") is not None  # carry
    assert dp.segments[200].table.lookup(REMOTE) is None  # learning off on VNI 200


def test_route_unicast_flood_static_and_local(dp: Datapath) -> None:
    seg = dp.segments[100]
    assert dp.route(seg, memoryview(frame(BROADCAST, LOCAL))) == ("10.0.0.2", "10.0.0.3")
    assert seg.table.lookup(LOCAL) is not None and seg.table.lookup(LOCAL).kind == Kind.LOCAL  # type: ignore[union-attr]
    assert dp.route(seg, memoryview(frame(REMOTE, LOCAL))) == ("10.0.0.2", "10.0.0.3")  # unknown unicast
    dp.accept(datagram(100, frame(LOCAL, REMOTE)), "10.0.0.3")
    assert dp.route(seg, memoryview(frame(REMOTE, LOCAL))) == ("10.0.0.3",)
    assert dp.route(seg, memoryview(frame(mac_bytes("02:00:00:00:00:99"), LOCAL))) == ("10.0.0.9",)
    assert dp.route(seg, memoryview(frame(LOCAL, REMOTE))) == ()  # destination is local
    assert seg.counters.tx_drop_local_destination == 1
    assert seg.counters.tx_flood_packets == 4


def test_route_drops_oversized_tagged_and_runt_frames(dp: Datapath) -> None:
    seg = dp.segments[100]
    assert dp.route(seg, memoryview(frame(REMOTE, LOCAL, size=1464))) != ()  # exactly fits 1500
    assert dp.route(seg, memoryview(frame(REMOTE, LOCAL, size=1465))) == ()
    assert dp.route(seg, memoryview(frame(REMOTE, LOCAL, b"\x81\x00"))) == ()
    assert dp.route(seg, memoryview(b"\x00" * 10)) == ()
    c = seg.counters
    assert (c.tx_drop_oversized, c.tx_drop_inner_vlan, c.tx_drop_runt, c.tap_frames) == (1, 1, 1, 4)
    empty = dp.segments[200]
    assert dp.route(empty, memoryview(frame(BROADCAST, LOCAL))) == ()
    assert empty.counters.tx_drop_no_destination == 1


def test_static_entries_win_over_learning_and_learned_entries_age(dp: Datapath) -> None:
    seg = dp.segments[100]
    static = mac_bytes("02:00:00:00:00:99")
    dp.accept(datagram(100, frame(LOCAL, static)), "10.0.0.2")  # tries to learn the static MAC elsewhere
    assert seg.table.lookup(static).remote == "10.0.0.9"  # type: ignore[union-attr]
    dp.accept(datagram(100, frame(LOCAL, REMOTE)), "10.0.0.2")
    dp.accept(datagram(100, frame(LOCAL, REMOTE)), "10.0.0.3")  # the MAC moved
    assert seg.table.lookup(REMOTE).remote == "10.0.0.3" and seg.table.moves == 1  # type: ignore[union-attr]
    dp.now += 61
    assert dp.age() == 1
    assert seg.table.lookup(REMOTE) is None and seg.table.lookup(static) is not None


def test_local_mac_listener_sees_appear_and_age_out(dp: Datapath) -> None:
    seg = dp.segments[100]
    events: list[tuple[bytes, bool]] = []
    seg.table.local_listener = lambda mac, entry: events.append((mac, entry is not None))
    dp.route(seg, memoryview(frame(BROADCAST, LOCAL)))
    dp.route(seg, memoryview(frame(BROADCAST, LOCAL)))
    dp.now += 61
    dp.age()
    assert events == [(LOCAL, True), (LOCAL, False)]


def test_evpn_entries_rank_between_static_and_learned(dp: Datapath) -> None:
    table = dp.segments[100].table
    table.learn_remote(REMOTE, "10.0.0.2", dp.now)
    table.set_evpn(REMOTE, "10.0.0.5", dp.now)
    table.learn_remote(REMOTE, "10.0.0.2", dp.now)  # data plane cannot override a BGP route
    assert table.lookup(REMOTE).remote == "10.0.0.5"  # type: ignore[union-attr]
    table.set_evpn(mac_bytes("02:00:00:00:00:99"), "10.0.0.5", dp.now)
    assert table.lookup(mac_bytes("02:00:00:00:00:99")).kind == Kind.STATIC  # type: ignore[union-attr]
    assert table.remove(REMOTE, Kind.EVPN, "10.0.0.5")


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5}, {vni: 5, tap: other}]\n", "vnis[1].vni", "duplicate VNI"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 16777216}]\n", "vnis[0].vni", "less than or equal"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5, flood: [10.0.0.1]}]\n", "vnis[0].flood[0]", "our own local_ip"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5, macs: [{mac: nope, remote: 10.0.0.2}]}]\n", "vnis[0].macs[0].mac",
         "not a MAC"),
        ("local_ip: 10.0.0.1\nsource_ports: 10-5\n", "source_ports", "port range"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5, mtu: 1451}]\n", "", "exceeds underlay_mtu - 50"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5, tapp: x}]\n", "vnis[0].tapp", "unknown field"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5, tap: averyveryverylongname}]\n", "vnis[0].tap", "1 to 15"),
        ("vnis: []\n", "local_ip", "required field is missing"),
        ("local_ip: fd00::1\nvnis: [{vni: 5, flood: [fd00::2, 10.0.0.2]}]\n", "vnis[0].flood[1]",
         "IPv4 address on an IPv6 underlay: use IPv6 addresses like local_ip (fd00::1)"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5, macs: [{mac: 02:00:00:00:00:01, remote: fd00::2}]}]\n",
         "vnis[0].macs[0].remote", "IPv6 address on an IPv4 underlay"),
        ("local_ip: fd00::1\nudp_checksum: false\n", "udp_checksum", "UDP over IPv6 needs checksums"),
        ("local_ip: fd00::1\nvnis: [{vni: 5, group: 239.1.1.1}]\n", "vnis[0].group",
         "IPv4 multicast group on an IPv6 underlay: use an IPv6 group (ff05::100 style) like local_ip (fd00::1)"),
        ("local_ip: 10.0.0.1\nvnis: [{vni: 5, group: 'ff05::100'}]\n", "vnis[0].group",
         "IPv6 multicast group on an IPv4 underlay"),
        ("local_ip: fd00::1\nvnis: [{vni: 5, group: 'fd00::100'}]\n", "vnis[0].group",
         "group must be a multicast address"),
        ("local_ip: fd00::1\nvnis: [{vni: 5, mtu: 1431}]\n", "", "exceeds underlay_mtu - 70 = 1430"),
        ("local_ip: fe80::1\n", "local_ip", "not link-local"),
        ("local_ip: fd00::1\nevpn: {asn: 65001, neighbors: [{address: 10.0.0.2, asn: 65002}]}\n", "evpn",
         "EVPN needs an IPv4 local_ip"),
        ("local_ip: 10.0.0.300\n", "local_ip", "valid IPv4 or IPv6 address"),
        ("local_ip: 10.0.0.1\ndatapath: ring\n", "datapath", "'tap' or 'packet-ring'"),
    ],
)
def test_config_errors_name_the_field(text: str, path: str, message: str, tmp_path: Path) -> None:
    config_file = tmp_path / "pyvtep.yaml"
    config_file.write_text(text)
    with pytest.raises(VxautoError) as caught:
        load_config(config_file)
    problem = caught.value.problems[0]
    assert problem.file == str(config_file)
    assert problem.path == path
    assert message in problem.message
    assert problem.line is not None


def test_ipv6_underlay_config_leaves_70_bytes_for_the_outer_headers() -> None:
    config = config_from_text("local_ip: fd00::1\nvnis: [{vni: 10010, flood: ['fd00:0:0::2']}]\n")
    assert config.ipv6 and config.tap_mtu == 1430 and Datapath(config).max_encap_frame == 1500 - 56
    assert [str(remote) for remote in config.vnis[0].flood] == ["fd00::2"]  # the form received addresses take


def test_config_defaults() -> None:
    config = config_from_text("local_ip: 10.0.0.1\nvnis: [{vni: 10010}]\n")
    assert config.port == 4789 and config.tap_mtu == 1450 and config.vnis[0].tap_name == "pv10010"
    assert config.source_port_range == (49152, 49167)
    assert str(config.socket_path) == "/run/pyvtep/pyvtep.sock"
    assert config.datapath == "tap"


def test_a_frame_from_the_tap_takes_an_evpn_mac_local(dp: Datapath) -> None:
    """The MAC moved here: the EVPN entry becomes local and the control plane hears of it (MAC mobility)."""
    seg = dp.segments[100]
    events: list[tuple[bytes, bool]] = []
    seg.table.local_listener = lambda mac, entry: events.append((mac, entry is not None))
    seg.table.set_evpn(LOCAL, "10.0.0.5", dp.now)
    dp.route(seg, memoryview(frame(BROADCAST, LOCAL)))
    entry = seg.table.lookup(LOCAL)
    assert entry is not None and entry.kind == Kind.LOCAL and events == [(LOCAL, True)]
    seg.table.set_evpn(LOCAL, "10.0.0.5", dp.now)  # a newer remote route takes it away again
    assert seg.table.lookup(LOCAL).kind == Kind.EVPN and events == [(LOCAL, True), (LOCAL, False)]  # type: ignore[union-attr]


def _arp_request(asker: bytes, asker_ip: str, target_ip: str) -> bytes:
    arp = bytes.fromhex("0001080006040001") + asker + bytes(map(int, asker_ip.split("."))) + bytes(6)
    return (BROADCAST + asker + b"\x08\x06" + arp + bytes(map(int, target_ip.split(".")))).ljust(60, b"\0")


def test_arp_requests_for_evpn_hosts_are_answered_locally(dp: Datapath) -> None:
    seg = dp.segments[100]
    seg.flood_static = frozenset({"10.0.0.2"})
    seg.rebuild_flood()
    seg.table.set_evpn(REMOTE, "10.0.0.5", dp.now)
    seg.arp[bytes([192, 168, 1, 5])] = REMOTE
    # positive control: an address EVPN does not know is flooded as usual
    assert dp.route(seg, memoryview(_arp_request(LOCAL, "192.168.1.1", "192.168.1.9"))) == ("10.0.0.2",)
    assert seg.counters.arp_suppressed == 0 and not dp.tap_replies
    assert dp.route(seg, memoryview(_arp_request(LOCAL, "192.168.1.1", "192.168.1.5"))) == ()
    assert seg.counters.arp_suppressed == 1 and seg.counters.tx_flood_packets == 1
    ((segment, reply),) = dp.tap_replies
    assert segment is seg and len(reply) == 60
    assert reply[:6] == LOCAL and reply[6:12] == REMOTE and reply[12:14] == b"\x08\x06"
    assert reply[14:22] == bytes.fromhex("0001080006040002")  # ARP reply
    assert reply[22:28] == REMOTE and reply[28:32] == bytes([192, 168, 1, 5])  # sender: the remote host
    assert reply[32:38] == LOCAL and reply[38:42] == bytes([192, 168, 1, 1])  # target: who asked
    dp.tap_replies.clear()
    seg.table.learn_local(REMOTE, dp.now)  # the host moved here: it answers for itself
    assert dp.route(seg, memoryview(_arp_request(LOCAL, "192.168.1.1", "192.168.1.5"))) == ("10.0.0.2",)
    assert seg.counters.arp_suppressed == 1 and not dp.tap_replies
