"""iproute2 and FRR parsing details: JSON and text forms agree, and zebra's changing JSON shapes."""

from __future__ import annotations

import json

from tests.getters.vxlan_cases import all_cases
from vxauto.devices.parsers import frr, iproute2
from vxauto.devices.parsers.replies import Reply

CASES = {case.id: case for case in all_cases()}


def _reply(case_id: str, command: str) -> Reply:
    return Reply(frr.PLATFORM, command, CASES[case_id].output(command))


def test_link_json_and_text_of_one_capture_agree() -> None:
    from_json = iproute2.parse_links(_reply("linux/static-json", frr.LINKS))
    from_text = iproute2.parse_links(_reply("linux/static-text", frr.LINKS))
    assert from_json == from_text
    assert [(link.name, link.vni, link.up, link.learning) for link in from_json] == [
        ("vxlan10", 10010, True, False),
        ("vxlan20", 10020, False, True),
    ]


def test_fdb_json_and_text_of_one_capture_agree() -> None:
    from_json = iproute2.parse_fdb(_reply("linux/static-json", frr.FDB))
    from_text = iproute2.parse_fdb(_reply("linux/static-text", frr.FDB))
    assert from_json == from_text
    assert [(e.mac, e.dev, e.dst, e.state) for e in from_json if e.mac == iproute2.ZERO_MAC] == [
        ("00:00:00:00:00:00", "vxlan10", "192.0.2.2", "permanent"),
        ("00:00:00:00:00:00", "vxlan10", "192.0.2.3", "permanent"),
        ("00:00:00:00:00:00", "vxlan20", "192.0.2.2", "permanent"),
    ]


def test_ip_text_inside_other_output_finds_only_vxlan_links() -> None:
    """The Cumulus capture is vtysh `show int vrf all` followed by `ip -d address show`."""
    links = iproute2.parse_links(_reply("frr/cumulus421-ospf-ibgp-leaf01", frr.LINKS))
    assert [(link.name, link.vni, link.local, link.master, link.learning) for link in links] == [
        ("vni24", 24, "10.0.0.112", "bridge", False),
        ("vni13", 13, "10.0.0.112", "bridge", False),
        ("vxlan4001", 104001, "10.0.0.112", "bridge", False),
    ]


def test_fdb_text_flags_and_states() -> None:
    entries = iproute2.parse_fdb(_reply("frr/cumulus421-ospf-ibgp-leaf01", frr.FDB))
    sticky = next(e for e in entries if e.mac == "52:54:00:30:f2:82" and e.dev == "vni24" and e.dst)
    assert (sticky.dst, sticky.flags, sticky.state) == ("10.0.0.134", frozenset({"self", "sticky"}), "static")
    learned = next(e for e in entries if e.mac == "52:54:00:0d:8c:4f" and e.vlan == 24)
    assert (learned.master, learned.flags, learned.state) == ("bridge", frozenset({"extern_learn"}), "")


def test_concatenated_objects_with_trailing_empty_object() -> None:
    """Cumulus 3.7.9 zebra printed one object per VNI, back to back, and a final `{}`."""
    text = CASES["frr/cumulus379-dual-evpn-leaf01"].output(frr.EVPN_VNI_DETAIL)
    assert text.rstrip().endswith("{\n}")
    vnis = frr.parse_evpn_vnis(Reply(frr.PLATFORM, frr.EVPN_VNI_DETAIL, text))
    assert sorted(vnis) == [13, 24, 104001]
    assert vnis[104001].vrf is None and vnis[104001].interface is None and vnis[104001].source_ip is None
    assert vnis[24].remote_vteps == ("10.0.0.101", "10.0.0.102", "10.0.0.134")


def test_newer_frr_key_spellings_give_the_same_vnis() -> None:
    """FRR >= 8 spells some keys differently (`tenantVrf`, `vxlanIf`, `remoteVteps: [{ip, flood}]`
    next to a `numRemoteVteps` count, as FRR's own topotests check). Renaming the keys of the real
    Cumulus 4.2.1 capture that way must not change the result."""
    original = json.loads(CASES["frr/cumulus421-ospf-ibgp-leaf01"].output(frr.EVPN_VNI_DETAIL))
    renamed = []
    for source in original:
        item = dict(source)
        item["tenantVrf"] = item.pop("vrf")
        if "vxlanInterface" in item:
            item["vxlanIf"] = item.pop("vxlanInterface")
        if isinstance(item.get("numRemoteVteps"), list):
            remotes = item.pop("numRemoteVteps")
            item["numRemoteVteps"] = len(remotes)
            item["remoteVteps"] = [{"ip": address, "flood": "HER"} for address in remotes]
        renamed.append(item)
    parse = frr.parse_evpn_vnis
    assert parse(Reply("frr", frr.EVPN_VNI_DETAIL, renamed)) == parse(Reply("frr", frr.EVPN_VNI_DETAIL, original))
    keyed = {str(item["vni"]): item for item in renamed}  # the non-detail `show evpn vni json` layout
    assert parse(Reply("frr", frr.EVPN_VNI_DETAIL, keyed)) == parse(Reply("frr", frr.EVPN_VNI_DETAIL, original))


def test_no_evpn_vni_at_all() -> None:
    """vtysh prints nothing when zebra has no EVPN VNI; a JSON `{}` or `[]` means the same."""
    for empty in ("", "{}", "[]", "{\n}\n"):
        assert frr.parse_evpn_vnis(Reply("frr", frr.EVPN_VNI_DETAIL, empty)) == {}
