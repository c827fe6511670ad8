"""The pyvtep NAPALM driver without a device: what it refuses before touching one, its NAPALM signatures,
the relay's error lines, and the getters over the recorded pv1 replies (tests/getters/pyvtep/)."""

from __future__ import annotations

import inspect
from pathlib import Path

import napalm
import pytest
from napalm.base import NetworkDriver
from napalm.base.exceptions import (
    CommandErrorException,
    CommitError,
    ConnectionException,
    MergeConfigException,
    ReplaceConfigException,
)

from tests.getters.vxlan_cases import all_cases, driver_for
from vxauto.devices.contract import vni_table_problems
from vxauto.devices.napalm_frr.remote import Completed
from vxauto.devices.napalm_pyvtep.driver import PyvtepDriver
from vxauto.devices.napalm_pyvtep.link import NOT_LISTENING, PyvtepLink
from vxauto.devices.registry import driver_class
from vxauto.model.platforms import PLATFORMS

RENDERED = """name: pv1
local_ip: 10.0.0.13
vnis:
  - vni: 10020
    flood: [10.0.0.12]
"""


def _driver() -> PyvtepDriver:
    return PyvtepDriver("192.0.2.23", "root", "", optional_args={"api_socket": "/run/pyvtep/pv1.sock"})


def test_the_platform_record_names_the_driver_and_napalm_finds_it() -> None:
    assert PLATFORMS["pyvtep"].napalm_driver == "pyvtep"
    assert PLATFORMS["pyvtep"].napalm_file == "pyvtep.yaml"
    assert driver_class("pyvtep") is PyvtepDriver
    assert napalm.get_network_driver("pyvtep") is PyvtepDriver  # the napalm_pyvtep shim


def test_napalm_methods_keep_napalm_signatures() -> None:
    """NAPALM's own rule for drivers: a method of the base class keeps its parameters."""
    checked = 0
    for name, base in vars(NetworkDriver).items():
        ours = vars(PyvtepDriver).get(name)
        if ours is None or not callable(base) or name.startswith("_"):
            continue
        checked += 1
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(base).parameters), name
    assert checked >= 15


def test_a_candidate_pyvtep_refuses_is_refused_at_load_with_the_loaders_words() -> None:
    driver = _driver()
    driver.load_replace_candidate(config=RENDERED)  # positive control: the rendered form loads
    bad = RENDERED.replace("flood: [10.0.0.12]", "flood: [10.0.0.13]")  # its own address in its flood list
    with pytest.raises(ReplaceConfigException) as caught:
        driver.load_replace_candidate(config=bad)
    message = str(caught.value)
    assert message.startswith("192.0.2.23: pyvtep refuses this configuration: 192.0.2.23 candidate:5")
    assert "vnis[0].flood[0]" in message and "\n" not in message
    assert driver.get_config(retrieve="candidate")["candidate"] == RENDERED  # the refused one replaced nothing


def test_merge_and_commit_confirm_are_refused_before_any_device_contact() -> None:
    driver = _driver()
    with pytest.raises(MergeConfigException, match="replaced as a whole"):
        driver.load_merge_candidate(config=RENDERED)
    with pytest.raises(CommitError, match="no candidate"):
        driver.commit_config()
    driver.load_replace_candidate(config=RENDERED)
    with pytest.raises(CommitError, match="no commit-confirm"):
        driver.commit_config(revert_in=60)
    assert driver.has_pending_commit() is False


def test_a_filename_candidate_is_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pyvtep.yaml"
    path.write_text(RENDERED)
    driver = _driver()
    driver.load_replace_candidate(filename=str(path))
    assert driver.get_config(retrieve="candidate")["candidate"] == RENDERED


def _link() -> PyvtepLink:
    return PyvtepLink(None, "192.0.2.23", "/run/pyvtep/pv1.sock", "python3")  # type: ignore[arg-type]


def test_relay_failures_are_one_line_naming_host_socket_and_fix() -> None:
    link = _link()
    absent = Completed("relay", NOT_LISTENING, "", "/run/pyvtep/pv1.sock: No such file or directory\n")
    with pytest.raises(ConnectionException) as caught:
        link.replies(absent, [{"op": "status"}])
    message = str(caught.value)
    assert message.startswith("192.0.2.23: pyvtep's API does not answer on /run/pyvtep/pv1.sock")
    assert "No such file or directory" in message and "api_socket" in message and "\n" not in message
    with pytest.raises(ConnectionException, match="set optional_args python"):
        link.replies(Completed("relay", 127, "", "sh: python3: not found"), [{"op": "status"}])
    with pytest.raises(CommandErrorException, match="invalid JSON for 'status'"):
        link.replies(Completed("relay", 0, "garbage\n", ""), [{"op": "status"}])
    ok = link.replies(Completed("relay", 0, '{"ok": true, "result": {"name": "pv1"}}\n', ""), [{"op": "status"}])
    assert ok == [{"name": "pv1"}]  # positive control


def test_relay_command_quotes_every_request_for_the_shell() -> None:
    command = _link().relay_command([{"op": "macs", "vni": 10010}, {"op": "status"}])
    assert command.startswith("python3 -c ")
    assert command.endswith(""" /run/pyvtep/pv1.sock '{"op":"macs","vni":10010}' '{"op":"status"}'""")


def test_getters_over_the_recorded_pv1_replies() -> None:
    case = next(c for c in all_cases() if c.id == "pyvtep/mixed-lab")
    driver = driver_for(case)
    vnis = driver.get_vxlan_vnis()
    assert vni_table_problems(vnis) == []
    assert {vni: info["learning"] for vni, info in vnis.items()} == {10010: "evpn", 10020: "static"}


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pyvtep" / "api"


def _recorded(op: str) -> object:
    import json

    return json.loads((FIXTURES / f"pv1-{op}.jsonl").read_text())["result"]


def test_mac_bgp_and_evpn_getters_over_the_recorded_replies() -> None:
    from vxauto.devices.napalm_pyvtep import getters

    macs, vnis, evpn, config = (_recorded(op) for op in ("macs", "vnis", "evpn", "config"))
    table = getters.mac_address_table(macs, vnis, "pv1")
    # h1 behind FRR leaf1 (an EVPN type-2 route) and h3 behind leaf2 (learned from the data plane)
    assert {"mac": "DA:A4:0B:A6:3D:54", "interface": "pv10010", "vlan": 0, "static": False, "active": True,
            "moves": -1, "last_move": -1.0} in table
    assert {row["interface"] for row in table} == {"pv10010", "pv10020"} and len(table) == 7
    bgp = getters.bgp_neighbors(config["running"], evpn)  # type: ignore[index]
    peer = bgp["global"]["peers"]["10.1.3.0"]
    assert (peer["is_up"], peer["local_as"], peer["remote_as"]) == (True, 65103, 65000)
    assert sorted(peer["address_family"]) == ["ipv4", "l2vpn_evpn"]
    places = getters.vxlan_mac_table(macs, vnis, evpn, "pv1")  # type: ignore[arg-type]
    assert places[10010]["da:a4:0b:a6:3d:54"]["vteps"] == ["10.0.0.11"]
    assert places[10010]["da:a4:0b:a6:3d:54"]["evpn"]["type"] == "remote"  # type: ignore[index]
    local = places[10010]["f2:9b:74:87:49:7d"]
    assert local["ports"] == ["pv10010"] and local["evpn"]["type"] == "local"  # type: ignore[index]
    assert places[10020]["62:19:cc:cc:47:2c"] == {"ports": [], "vteps": ["10.0.0.12"], "evpn": None}
