"""ND suppression without I/O: solicitations built and advertisements checked by scapy, an independent
implementation of RFC 4861 (its checksums are recomputed by scapy, not by pyvtep's helpers)."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
    in6_getnsma,
    in6_getnsmac,
)
from scapy.layers.l2 import Ether

from vxauto.vtep.config import config_from_text
from vxauto.vtep.datapath import Datapath
from vxauto.vtep.nd import Solicitation, advertisement, solicitation

ASKER_MAC, TARGET_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
ASKER_IP, TARGET_IP, UNKNOWN_IP = "fd00:60::1", "fd00:60::2", "fd00:60::9"


def _ns(target: str = TARGET_IP, source: str = ASKER_IP, hlim: int = 255, option: bool = True,
        extension: bool = False) -> bytes:
    """A Neighbor Solicitation as a host sends it: to the target's solicited-node group and its MAC."""
    group = in6_getnsma(ipaddress.IPv6Address(target).packed)
    ip = IPv6(src=source, dst=ipaddress.IPv6Address(group).compressed, hlim=hlim)
    packet = Ether(src=ASKER_MAC, dst=in6_getnsmac(group)) / ip
    if extension:
        packet = packet / IPv6ExtHdrHopByHop()
    packet = packet / ICMPv6ND_NS(tgt=target)
    if option:
        packet = packet / ICMPv6NDOptSrcLLAddr(lladdr=ASKER_MAC)
    return bytes(packet)


def test_advertisement_parses_as_a_correct_solicited_na() -> None:
    asked = solicitation(_ns())
    assert asked == Solicitation(bytes.fromhex(ASKER_MAC.replace(":", "")), ipaddress.IPv6Address(ASKER_IP).packed,
                                 ipaddress.IPv6Address(TARGET_IP).packed)
    raw = advertisement(asked, bytes.fromhex(TARGET_MAC.replace(":", "")))
    parsed = Ether(raw)
    assert parsed.dst == ASKER_MAC and parsed.src == TARGET_MAC and parsed.type == 0x86DD
    ip6, na = parsed[IPv6], parsed[ICMPv6ND_NA]
    assert (ip6.src, ip6.dst, ip6.hlim, ip6.nh, ip6.plen) == (TARGET_IP, ASKER_IP, 255, 58, 32)
    assert (na.type, na.code, na.R, na.S, na.O, na.tgt) == (136, 0, 0, 1, 1, TARGET_IP)
    assert parsed[ICMPv6NDOptDstLLAddr].lladdr == TARGET_MAC and parsed[ICMPv6NDOptDstLLAddr].len == 1
    sent_checksum = na.cksum
    del na.cksum  # scapy recomputes it from the pseudo header on rebuild
    assert Ether(bytes(parsed))[ICMPv6ND_NA].cksum == sent_checksum
    assert len(raw) == 86 and len(raw) == len(bytes(parsed))


def test_router_flag_follows_the_caller() -> None:
    asked = solicitation(_ns())
    assert asked is not None
    na = Ether(advertisement(asked, bytes(6), router=True))[ICMPv6ND_NA]
    assert (na.R, na.S, na.O) == (1, 1, 1)


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (_ns(source="::"), "duplicate address detection must reach the owner"),
        (_ns(hlim=64), "hop limit below 255: came through a router (RFC 4861 7.1.1)"),
        (_ns(extension=True), "extension headers are not parsed: forward"),
        (_ns()[:-9], "shorter than the IPv6 payload length says"),
        (_ns()[:-2] + b"\0\0", "damaged option"),
        (_ns()[:20] + b"\x11" + _ns()[21:], "next header UDP, not ICMPv6"),
    ],
)
def test_what_a_node_may_not_answer_is_left_alone(frame: bytes, why: str) -> None:
    assert solicitation(frame) is None, why


def test_a_valid_solicitation_without_options_is_accepted() -> None:
    assert solicitation(_ns(option=False)) is not None  # positive control for the rejections above


def test_datapath_answers_known_targets_and_floods_the_rest() -> None:
    dp = Datapath(config_from_text("local_ip: 10.0.0.1\nvnis: [{vni: 100, flood: [10.0.0.2]}]\n"))
    seg = dp.segments[100]
    target_mac = bytes.fromhex(TARGET_MAC.replace(":", ""))
    seg.table.set_evpn(target_mac, "10.0.0.5", dp.now)
    seg.nd[ipaddress.IPv6Address(TARGET_IP).packed] = target_mac
    # positive control: an address EVPN does not know goes out as any multicast frame
    assert dp.route(seg, memoryview(_ns(UNKNOWN_IP))) == ("10.0.0.2",)
    assert seg.counters.nd_suppressed == 0 and not dp.tap_replies
    assert dp.route(seg, memoryview(_ns())) == ()
    assert seg.counters.nd_suppressed == 1 and seg.counters.tx_flood_packets == 1
    ((segment, reply),) = dp.tap_replies
    assert segment is seg and Ether(reply)[ICMPv6ND_NA].tgt == TARGET_IP
    # The host moved here (its MAC is local now): it answers itself, the NS is flooded as usual.
    dp.tap_replies.clear()
    dp.route(seg, memoryview(Ether(src=TARGET_MAC, dst="ff:ff:ff:ff:ff:ff").build() + bytes(46)))
    assert dp.route(seg, memoryview(_ns())) == ("10.0.0.2",)
    assert seg.counters.nd_suppressed == 1 and not dp.tap_replies
