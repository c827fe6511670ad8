"""The FRR half: frr-reload.py's `--test` output (captured from the lab) as a diff, and the candidate
normalisation that makes an unchanged intent compare equal to FRR's running configuration."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.conftest import fixture_text
from vxauto.devices.napalm_frr.frr_reload import (
    Change,
    normalise_candidate,
    parse_reload_test,
    reload_command,
    running_text,
    vtysh_command,
)
from vxauto.model.fabric import load_fabric
from vxauto.render.engine import render_device


def test_deleted_vni_is_one_deletion_in_its_context() -> None:
    delta = parse_reload_test(fixture_text("leaf1", "frr-reload_--test_without_vni_10030"))
    assert delta.deletions == [Change(("router bgp 65101", "address-family l2vpn evpn"), "vni 10030")]
    assert delta.additions == []


def test_mixed_changes_invert_deletion_commands_to_config_lines() -> None:
    delta = parse_reload_test(fixture_text("leaf1", "frr-reload_--test_mixed"))
    assert delta.deletions == [
        Change(("router bgp 65101", "address-family l2vpn evpn"), "vni 10030"),
        # frr-reload removes `no bgp default ipv4-unicast` by running `bgp default ipv4-unicast`
        Change(("router bgp 65101",), "no bgp default ipv4-unicast"),
        Change(("router bgp 65101",), "neighbor 10.1.1.0 description spine1"),
        Change(("router bgp 65101", "address-family l2vpn evpn", "vni 10010"), "route-target import 65000:10010"),
    ]
    assert delta.additions == [
        Change(("router bgp 65101",), "neighbor 10.1.1.0 description spine-one"),
        Change(("router bgp 65101", "address-family l2vpn evpn", "vni 10010"), "route-target import 65000:11010"),
    ]
    assert delta.only_additions().deletions == []


def test_delta_prints_as_unified_diff_with_one_hunk_per_context() -> None:
    delta = parse_reload_test(fixture_text("leaf1", "frr-reload_--test_mixed"))
    assert delta.unified("leaf1").splitlines() == [
        "--- leaf1 frr.conf (running)",
        "+++ leaf1 frr.conf (candidate)",
        "@@ router bgp 65101 / address-family l2vpn evpn @@",
        "-  vni 10030",
        "@@ router bgp 65101 @@",
        "- no bgp default ipv4-unicast",
        "- neighbor 10.1.1.0 description spine1",
        "+ neighbor 10.1.1.0 description spine-one",
        "@@ router bgp 65101 / address-family l2vpn evpn / vni 10010 @@",
        "-   route-target import 65000:10010",
        "+   route-target import 65000:11010",
    ]


def test_empty_test_output_is_no_change() -> None:
    delta = parse_reload_test("")
    assert not delta and delta.unified("leaf1") == ""


def test_normalisation_drops_version_and_defaults_only_where_they_are_defaults(demo_inventory: Path) -> None:
    fabric = load_fabric(demo_inventory)
    spine = render_device(fabric.device("spine1")).files["frr.conf"]
    normalised = normalise_candidate(spine)
    assert "frr version" in spine and "frr version" not in normalised
    assert " no bgp ebgp-requires-policy" in spine and "ebgp-requires-policy" not in normalised
    assert "attribute-unchanged next-hop" in spine and "attribute-unchanged" not in normalised
    assert " no bgp default ipv4-unicast" in normalised  # FRR prints this one: it stays
    # the same line outside the datacenter profile is not a default, so it stays
    traditional = spine.replace("frr defaults datacenter", "frr defaults traditional")
    assert " no bgp ebgp-requires-policy" in normalise_candidate(traditional)
    # and only at its place: an EVPN line elsewhere is kept
    moved = "frr defaults datacenter\nrouter bgp 1\n address-family ipv4 unicast\n" \
            "  neighbor 10.0.0.1 attribute-unchanged next-hop\n exit-address-family\nexit\n"
    assert "attribute-unchanged next-hop" in normalise_candidate(moved)


def test_running_text_is_a_loadable_config() -> None:
    shown = "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nhostname leaf1\n!\nend\n"
    assert running_text(shown) == "!\nfrr version 8.4.4\nhostname leaf1\n!\n"


def test_commands_quote_paths_and_use_the_pathspace() -> None:
    assert reload_command("/x y/frr.conf", "evpn-frr-leaf1", "test") == (
        "/usr/lib/frr/frr-reload.py --test --pathspace evpn-frr-leaf1 '/x y/frr.conf'")
    assert reload_command("/s/frr.conf", None, "reload") == "/usr/lib/frr/frr-reload.py --reload --stdout /s/frr.conf"
    assert vtysh_command("lab-leaf1", "show running-config") == "vtysh -N lab-leaf1 -c 'show running-config'"
    assert vtysh_command(None, "write memory") == "vtysh -c 'write memory'"
