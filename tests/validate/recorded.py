"""Recorded lab data for the validate unit tests (tests/fixtures/frr/lab-capture, see SOURCE.md there).

Per scenario: what the Linux/FRR NAPALM driver answered live (`getters/<node>.json`), the raw command
outputs it parses (`<node>/<command>.json`), the hosts' `ip -j link show`, and validate's own report.
`answers_from_raw` turns the raw outputs into getter answers with the driver's own parsing functions, so a
test can follow raw output -> getter -> check.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from vxauto.devices.napalm_frr import parse_core as frr_getters
from vxauto.devices.parsers import frr as frr_parser
from vxauto.devices.parsers.replies import Reply
from vxauto.model import load_fabric
from vxauto.model.fabric import Fabric
from vxauto.validate import checks
from vxauto.validate.checks import Answer
from vxauto.validate.dataplane import HostMacs, parse_link_macs
from vxauto.validate.expected import ExpectedState, expected_state

CAPTURE = REPO / "tests" / "fixtures" / "frr" / "lab-capture"
SCENARIOS = ("healthy", "vni-removed", "wrong-vni", "bgpd-stopped", "mtu-1400", "port-leak")


def scenario_dir(scenario: str) -> Path:
    return CAPTURE / scenario


@cache
def versions() -> dict[str, str]:
    return json.loads((CAPTURE / "versions.json").read_text())


def captured_fabric() -> Fabric:
    """The inventory the capture ran (stored with it, so later changes to inventory/ cannot skew it)."""
    return load_fabric(CAPTURE / "inventory")


def captured_state() -> ExpectedState:
    return expected_state(captured_fabric())


def recorded_answers(scenario: str, node: str) -> dict[str, Answer]:
    """The driver's live answers; a getter that failed live is recorded as {"__error__": text}."""
    data: dict[str, Any] = json.loads((scenario_dir(scenario) / "getters" / f"{node}.json").read_text())
    answers = {}
    for getter, value in data.items():
        if isinstance(value, dict) and "__error__" in value:
            answers[getter] = Answer(error=value["__error__"])
        elif getter == checks.GET_VNIS:
            answers[getter] = Answer({int(vni): info for vni, info in value.items()})  # JSON keys are text
        else:
            answers[getter] = Answer(value)
    return answers


def _raw(scenario: str, node: str, name: str) -> str:
    return (scenario_dir(scenario) / node / f"{name}.json").read_text()


def answers_from_raw(scenario: str, node: str) -> dict[str, Answer]:
    """Getter answers computed from the raw outputs with the driver's parsers (no device)."""
    links = json.loads(_raw(scenario, node, "ip_-j_-d_link_show"))
    fdb_text = _raw(scenario, node, "bridge_-j_fdb_show")
    evpn = Reply(frr_parser.PLATFORM, frr_parser.EVPN_VNI_DETAIL, _raw(scenario, node, "show_evpn_vni_detail_json"))
    vxlan = Reply(frr_parser.PLATFORM, frr_parser.LINKS, _raw(scenario, node, "ip_-j_-d_link_show_type_vxlan"))
    fdb = Reply(frr_parser.PLATFORM, frr_parser.FDB, fdb_text)
    summary = frr_getters.decode(_raw(scenario, node, "show_bgp_vrf_all_summary_json"), "summary")
    neighbors = frr_getters.decode(_raw(scenario, node, "show_bgp_vrf_all_neighbors_json"), "neighbors")
    # a command that failed was recorded as {"__error__": ...}; the driver raises then (FRR does not answer)
    bgp = (Answer(error=f"get_bgp_neighbors failed: {summary['__error__']}") if "__error__" in (summary or {})
           else Answer(frr_getters.bgp_neighbors(summary, neighbors)))
    return {
        checks.GET_VNIS: Answer(frr_parser.vnis_from_replies(evpn, vxlan, fdb)),
        checks.GET_VTEPS: Answer(frr_parser.vteps_from_replies(evpn, vxlan, fdb)),
        checks.GET_INTERFACES: Answer(frr_getters.interfaces(links, {})),
        checks.GET_INTERFACES_IP: Answer(frr_getters.interfaces_ip(json.loads(_raw(scenario, node,
                                                                                   "ip_-j_addr_show")))),
        checks.GET_BGP: bgp,
        checks.GET_MACS: Answer(frr_getters.mac_address_table(json.loads(fdb_text))),
    }


def host_macs(scenario: str, state: ExpectedState) -> HostMacs:
    macs: dict[tuple[str, str], str] = {}
    for endpoint in state.endpoints:
        links = parse_link_macs(_raw(scenario, endpoint.node, "ip_-j_link_show"))
        if endpoint.interface in links:
            macs[(endpoint.node, endpoint.interface)] = links[endpoint.interface]
    return HostMacs(macs, {})


def validate_report(scenario: str) -> dict[str, Any]:
    return json.loads((scenario_dir(scenario) / "validate.json").read_text())
