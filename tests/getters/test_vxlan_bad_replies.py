"""Malformed or unexpected device replies raise VxautoError naming host, platform, command and path.

Bad inputs are made from the real captures (a key removed, a value of the wrong type, text cut
short, one command's output given for another), never written from scratch.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from napalm.base.exceptions import CommandErrorException
from napalm.nxapi_plumbing.errors import NXAPICommandError
from pyeapi.eapilib import CommandError

from tests.getters.vxlan_cases import HOSTNAME, Case, FakePyvtepLink, all_cases, driver_for
from vxauto.devices.napalm_frr.remote import Completed
from vxauto.devices.parsers import eos, frr, iproute2, junos, nxos
from vxauto.devices.parsers.replies import Reply
from vxauto.errors import VxautoError

CASES = {case.id: case for case in all_cases()}


def _data(case_id: str, command: str) -> Any:
    """A case's reply, decoded when it is one JSON document (else as the device printed it)."""
    output = CASES[case_id].output(command)
    if isinstance(output, str):
        try:
            return json.loads(output)
        except json.JSONDecodeError:
            return output
    return output


def _json_documents(text: str) -> list[Any] | None:
    """Every JSON value in `text` (zebra once printed several back to back); None if it is not JSON."""
    decoder, values, position = json.JSONDecoder(), [], 0
    try:
        while position < len(text.rstrip()):
            while text[position].isspace():
                position += 1
            value, position = decoder.raw_decode(text, position)
            values.append(value)
    except (json.JSONDecodeError, IndexError):
        return None
    return values


def _fetch(case_id: str, overrides: dict[str, object], platform: str) -> Callable[[str], Reply]:
    """Parser-level fetch over a case's replies, with some replies replaced."""
    case = CASES[case_id]

    def fetch(command: str) -> Reply:
        if command in overrides:
            return Reply(platform, command, overrides[command], HOSTNAME)
        sent = next(c for c in case.spec["replies"] if c == command or c.startswith(command + " | "))
        return Reply(platform, command, case.output(sent), HOSTNAME)

    return fetch


def _raises(call: Callable[[], object], *fragments: str) -> str:
    with pytest.raises(VxautoError) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------- EOS


def test_eos_reply_without_interfaces() -> None:
    fetch = _fetch("eos/leaf01", {eos.SHOW_VXLAN_INTERFACE: {}}, eos.PLATFORM)
    _raises(lambda: eos.get_vxlan_vnis(fetch), "recorded [eos] `show interfaces vxlan 1`", "interfaces: missing")


def test_eos_vlan_map_entry_without_vni() -> None:
    data = _data("eos/leaf01", eos.SHOW_VXLAN_INTERFACE)
    del data["interfaces"]["Vxlan1"]["vlanToVniMap"]["30"]["vni"]
    fetch = _fetch("eos/leaf01", {eos.SHOW_VXLAN_INTERFACE: data}, eos.PLATFORM)
    _raises(lambda: eos.get_vxlan_vnis(fetch), "interfaces.Vxlan1.vlanToVniMap.30.vni: missing")


def test_eos_address_table_with_a_bad_vtep() -> None:
    data = _data("eos/leaf01", eos.SHOW_VXLAN_ADDRESS_TABLE)
    data["addresses"][2]["vtep"] = data["addresses"][2]["macAddress"]
    fetch = _fetch("eos/leaf01", {eos.SHOW_VXLAN_ADDRESS_TABLE: data}, eos.PLATFORM)
    _raises(lambda: eos.get_vxlan_vteps(fetch), "`show vxlan address-table`", "addresses[2].vtep: not an IP address")


def test_eos_ssh_reply_cut_short() -> None:
    text = json.dumps(_data("eos/leaf01", eos.SHOW_VXLAN_INTERFACE), indent=2)
    fetch = _fetch("eos/leaf01", {eos.SHOW_VXLAN_INTERFACE: text[: len(text) // 2]}, eos.PLATFORM)
    _raises(lambda: eos.get_vxlan_vnis(fetch), "reply is not valid JSON")


def _eapi_driver_raising(error: Exception) -> Any:
    driver = driver_for(CASES["eos/leaf01"])

    class Node:
        def run_commands(self, commands: list[str], **_: object) -> list[object]:
            raise error

    driver.device = Node()
    return driver


def test_eos_eapi_missing_vxlan_interface_means_no_vnis() -> None:
    error = CommandError(1002, "CLI command 1 of 1 'show interfaces vxlan 1' failed: invalid command",
                         command_error="Interface does not exist")
    assert _eapi_driver_raising(error).get_vxlan_vnis() == {}


def test_eos_eapi_rejected_command_is_reported() -> None:
    error = CommandError(1002, "CLI command 1 of 1 'show vxlan address-table' failed: invalid command",
                         command_error="Invalid input (at token 1: 'vxlan')")
    driver = _eapi_driver_raising(error)
    _raises(driver.get_vxlan_vteps, "recorded [eos] `show interfaces vxlan 1`", "the device rejected the command",
            "Invalid input")


# --------------------------------------------------------------------------- NX-OS


def test_nxos_text_where_json_was_asked() -> None:
    """A release without `| json native` echoes text: reported, not parsed as empty."""
    text = CASES["nxos_ssh/ntc-text"].output("show nve vni")
    fetch = _fetch("nxos_ssh/leaf01", {nxos.SHOW_NVE_VNI: text}, nxos.PLATFORM)
    _raises(lambda: nxos.get_vxlan_vnis(fetch), "[nxos] `show nve vni all detail`", "not valid JSON")


def test_nxos_row_without_vni() -> None:
    data = _data("nxos_ssh/leaf01", "show nve vni all detail | json native")
    del data["TABLE_nve_vni"]["ROW_nve_vni"][1]["vni"]
    fetch = _fetch("nxos_ssh/leaf01", {nxos.SHOW_NVE_VNI: data}, nxos.PLATFORM)
    _raises(lambda: nxos.get_vxlan_vnis(fetch), "TABLE_nve_vni.ROW_nve_vni[1].vni: missing")


def test_nxos_unknown_vni_type() -> None:
    data = _data("nxos_ssh/leaf01", "show nve vni all detail | json native")
    data["TABLE_nve_vni"]["ROW_nve_vni"][0]["type"] = "evpn-vrf"
    fetch = _fetch("nxos_ssh/leaf01", {nxos.SHOW_NVE_VNI: data}, nxos.PLATFORM)
    _raises(lambda: nxos.get_vxlan_vnis(fetch), "ROW_nve_vni[0].type: expected `L2 [<bd>]` or `L3 [<vrf>]`")


def test_nxos_peer_vni_list_garbled() -> None:
    data = _data("nxos_ssh/leaf01", "show nve peers detail | json native")
    data["TABLE_nve_peers"]["ROW_nve_peers"][0]["cp-vni"] = "30,x"
    fetch = _fetch("nxos_ssh/leaf01", {nxos.SHOW_NVE_PEERS: data}, nxos.PLATFORM)
    _raises(lambda: nxos.get_vxlan_vteps(fetch), "ROW_nve_peers[0].cp-vni: expected a list of numbers")


def test_nxos_text_of_another_command() -> None:
    peers = CASES["nxos_ssh/ntc-text"].output("show nve peers")
    fetch = _fetch("nxos_ssh/ntc-text", {nxos.TEXT_SHOW_NVE_VNI: peers}, nxos.PLATFORM)
    _raises(lambda: nxos.get_vxlan_vnis_text(fetch), "[nxos] `show nve vni`", "no `Multicast-group` header")


def test_nxapi_rejected_command_is_reported() -> None:
    driver = driver_for(CASES["nxos/leaf01-nxapi"])

    class Nxapi:
        def show(self, command: str, raw_text: bool = False) -> object:
            raise NXAPICommandError(command, "Invalid command at '^' marker.")

    driver.device = Nxapi()
    _raises(driver.get_vxlan_vteps, "recorded [nxos] `show nve peers detail`", "rejected")


def test_nxos_ssh_rejects_unknown_output_mode() -> None:
    _raises(lambda: driver_for(Case("x", "y", CASES["nxos_ssh/ntc-text"].path,
                                    {"driver": "nxos_ssh", "optional_args": {"vxlan_output": "xml"}})),
            "vxlan_output", "must be one of")


# --------------------------------------------------------------------------- Junos


def test_junos_bridge_domain_without_vni() -> None:
    data = _data("junos/leaf01", "show evpn instance extensive")
    instance = data["evpn-instance-information"][0]["evpn-instance"][1]
    del instance["bridge-domain-status-table"][0]["bridge-domain"][0]["domain-id"]
    fetch = _fetch("junos/leaf01", {junos.SHOW_EVPN_INSTANCE: data}, junos.PLATFORM)
    _raises(lambda: junos.get_vxlan_vnis(fetch), "[junos] `show evpn instance extensive`",
            "bridge-domain[0]: bridge domain without `domain-id`")


def test_junos_reply_of_the_wrong_command() -> None:
    l3 = _data("junos/leaf01", "show evpn l3-context extensive")
    fetch = _fetch("junos/leaf01", {junos.SHOW_EVPN_INSTANCE: l3}, junos.PLATFORM)
    _raises(lambda: junos.get_vxlan_vnis(fetch), "evpn-instance-information: missing")


def test_junos_text_cut_short() -> None:
    text = CASES["junos/leaf01"].output("show ethernet-switching vxlan-tunnel-end-point remote")
    fetch = _fetch("junos/leaf01", {junos.SHOW_REMOTE_VTEPS: text[:400]}, junos.PLATFORM)
    _raises(lambda: junos.get_vxlan_vteps(fetch), "`show ethernet-switching vxlan-tunnel-end-point remote`",
            "not valid JSON")


def test_junos_trailing_comma_repair_is_what_makes_18_1_readable() -> None:
    text = CASES["junos/leaf3-qfx-18.1"].output("show evpn instance extensive")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert json.loads(junos.repair_trailing_commas(text))["evpn-instance-information"][0]["attributes"]


# --------------------------------------------------------------------------- FRR / iproute2


def test_frr_vni_object_without_vni() -> None:
    text = CASES["frr/cumulus379-dual-evpn-leaf01"].output(frr.EVPN_VNI_DETAIL)
    broken = text.replace('"vni":13,', "", 1)
    fetch = _fetch("frr/cumulus379-dual-evpn-leaf01", {frr.EVPN_VNI_DETAIL: broken}, frr.PLATFORM)
    _raises(lambda: frr.get_vxlan_vnis(fetch), '[frr] `vtysh -c "show evpn vni detail json"`', "[1].vni: missing")


def test_fdb_parser_refuses_other_output() -> None:
    links = CASES["linux/static-text"].output("ip -j -d link show type vxlan")
    fetch = _fetch("linux/static-text", {frr.FDB: links}, frr.PLATFORM)
    _raises(lambda: frr.get_vxlan_vnis(fetch, evpn=False), "`bridge -j fdb show`",
            "line 1: not a `bridge fdb show` entry")


def test_link_json_with_a_bad_vni() -> None:
    links = json.loads(CASES["linux/static-json"].output("ip -j -d link show type vxlan"))
    links[1]["linkinfo"]["info_data"]["id"] = 16_777_216
    fetch = _fetch("linux/static-json", {frr.LINKS: links}, frr.PLATFORM)
    _raises(lambda: frr.get_vxlan_vnis(fetch, evpn=False), "[1].linkinfo.info_data.id: VNI out of range")


def test_iproute2_text_vxlan_line_without_id_number() -> None:
    text = CASES["linux/static-text"].output(frr.LINKS).replace("vxlan id 10020", "vxlan id x")
    _raises(lambda: iproute2.parse_links(Reply("frr", frr.LINKS, text)),
            "link vxlan20: vxlan line without a numeric id")


# --------------------------------------------------------------------------- every key of every reply


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*path, index)
            yield from _paths(child, (*path, index))


def _mutated(data: Any, path: tuple[Any, ...], how: str) -> Any:
    clone = copy.deepcopy(data)
    parent = clone
    for step in path[:-1]:
        parent = parent[step]
    if how == "delete":
        del parent[path[-1]]
    else:
        old = parent[path[-1]]
        parent[path[-1]] = [] if isinstance(old, str | int | float) else "oops"
    return clone


_PARSERS = {"eos": eos, "nxos": nxos, "nxos_ssh": nxos, "junos": junos, "frr": frr}


def _json_replies(case: Case) -> dict[str, Any]:
    """Parser command -> decoded reply, for every reply of the case that is JSON."""
    result = {}
    for sent in case.spec["replies"]:
        output = case.output(sent)
        if isinstance(output, str):
            repaired = junos.repair_trailing_commas(output) if case.spec["driver"] == "junos" else output
            documents = _json_documents(repaired)
            if not documents:
                continue  # text replies are covered by the targeted tests above
            output = documents[0] if len(documents) == 1 else documents
        result[sent.split(" | ")[0]] = output
    return result


@pytest.mark.parametrize("case_id", [case_id for case_id, case in CASES.items()
                                     if case.spec["driver"] in _PARSERS and _json_replies(case)])
def test_no_mutation_of_a_real_reply_escapes_as_anything_but_vxautoerror(case_id: str) -> None:
    """Delete or retype keys/elements of every JSON reply: the getters answer or raise VxautoError
    naming the mutated command; never a KeyError/TypeError traceback."""
    case = CASES[case_id]
    parser = _PARSERS[case.spec["driver"]]
    args = case.spec.get("getter_args", {})
    tried = 0
    for command, data in _json_replies(case).items():
        paths = list(_paths(data))
        for path in paths[:: max(1, len(paths) // 120)]:  # an even sample keeps the run short
            for how in ("delete", "retype"):
                fetch = _fetch(case_id, {command: _mutated(data, path, how)}, parser.PLATFORM)
                for getter in (parser.get_vxlan_vnis, parser.get_vxlan_vteps):
                    tried += 1
                    try:
                        getter(fetch, **args)
                    except VxautoError as error:
                        assert f"[{parser.PLATFORM}] `{command}`" in str(error), (path, how, str(error))
    assert tried > 0


class _MutatedPyvtepLink(FakePyvtepLink):
    """The recorded pyvtep replies, one of them replaced by a mutated reply line."""

    def __init__(self, case: Case, sent: str, line: str) -> None:
        super().__init__(case)
        self.sent, self.line = sent, line

    def read(self, requests: Any, commands: Any = None, timeout: float | None = None) -> Any:
        lines = "".join(self.line if f"api {r['op']}" == self.sent else str(self.case.output(f"api {r['op']}"))
                        for r in requests)
        shell = {name: Completed(c, 0, self.line if c == self.sent else str(self.case.output(c)), "")
                 for name, c in (commands or {}).items()}
        return self.replies(Completed("relay", 0, lines, ""), requests), shell


@pytest.mark.parametrize("case_id", [case_id for case_id, case in CASES.items() if case.spec["driver"] == "pyvtep"])
def test_no_mutation_of_a_recorded_pyvtep_reply_escapes_as_anything_but_vxautoerror(case_id: str) -> None:
    """The same for pyvtep's API replies (their `result`) and the link listing: every getter answers, or
    raises VxautoError naming the host, [pyvtep] and what it read."""
    case = CASES[case_id]
    tried = 0
    for sent in case.spec["replies"]:
        raw = json.loads(str(case.output(sent)))
        data = raw["result"] if sent.startswith("api ") else raw
        paths = list(_paths(data))
        for path in paths[:: max(1, len(paths) // 60)]:
            for how in ("delete", "retype"):
                mutated = _mutated(data, path, how)
                line = json.dumps({"ok": True, "result": mutated}) + "\n" if sent.startswith("api ") else \
                    json.dumps(mutated)
                driver = driver_for(case)
                driver._link = _MutatedPyvtepLink(case, sent, line)
                for getter in (driver.get_vxlan_vnis, driver.get_vxlan_vteps):
                    tried += 1
                    try:
                        getter()
                    except VxautoError as error:
                        assert f"{HOSTNAME} [pyvtep]" in str(error), (sent, path, how, str(error))
    assert tried > 0


def test_a_pyvtep_reply_line_missing_or_refused_is_one_clear_error() -> None:
    case = CASES["pyvtep/mixed-lab"]
    driver = driver_for(case)
    driver._link = _MutatedPyvtepLink(case, "api vteps", '{"ok": false, "error": "request must be ..."}\n')
    with pytest.raises(CommandErrorException, match=r"recorded: pyvtep refused 'vteps': request must be"):
        driver.get_vxlan_vteps()
    driver._link = _MutatedPyvtepLink(case, "api vteps", "")
    with pytest.raises(CommandErrorException, match=r"answered 0 of 1 requests"):
        driver.get_vxlan_vteps()
