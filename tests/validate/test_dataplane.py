"""Data-plane planning and parsing: probe commands, isolation sessions and their temporary addresses,
host MACs from a captured `ip -j link show`, and how probe outputs become verdicts."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from tests.conftest import DEMO_INVENTORY
from tests.validate.recorded import CAPTURE, scenario_dir
from vxauto.model import load_fabric
from vxauto.validate.dataplane import (
    CommandResult,
    IsolationSession,
    _free_address,
    _isolation_results,
    _isolation_script,
    parse_link_macs,
    ping_command,
    plan_isolation,
)
from vxauto.validate.expected import Endpoint, Probe, expected_state


@pytest.fixture(scope="module")
def demo():
    return expected_state(load_fabric(DEMO_INVENTORY))


def test_ping_is_bound_to_the_endpoint_interface_and_sets_df_for_mtu_probes() -> None:
    source = Endpoint("h1", "eth1.10", "red-web", "red", 10010, "10.10.10.1", "10.10.10.0/24")
    assert ping_command(source, "10.10.10.2") == "ping -4 -n -c 1 -W 1 -I eth1.10 10.10.10.2"
    assert ping_command(source, "10.10.10.2", 1472) == "ping -4 -n -c 1 -W 1 -M do -s 1472 -I eth1.10 10.10.10.2"
    v6 = Endpoint("a", "eth1", "s", "t", 1, "2001:db8::1", "2001:db8::/64")
    assert ping_command(v6, "2001:db8::2").startswith("ping -6 ")


def test_isolation_sessions_get_distinct_unused_temporary_addresses(demo) -> None:
    probes = [p for p in demo.probes if p.kind == "isolation"]
    sessions, impossible = plan_isolation(demo, probes)
    assert impossible == []
    # one session per (source endpoint, foreign subnet): 8 endpoints x the other tenant's 2 subnets
    assert len(sessions) == 16
    assert sum(len(s.targets) for s in sessions) == len(probes)
    temporaries = [s.temporary for s in sessions]
    assert len(set(temporaries)) == len(temporaries)  # concurrent sessions can never answer each other
    endpoint_ips = {e.ip for e in demo.endpoints}
    for session in sessions:
        assert session.temporary not in endpoint_ips
        assert ipaddress.ip_address(session.temporary) in ipaddress.ip_network(session.network)
        assert all(p.target.network == session.network for p in session.targets)
    first = next(s for s in sessions if s.source.label == "h1 eth1 10.10.10.1" and s.network == "10.20.30.0/24")
    assert first.temporary == "10.20.30.254"  # from the top of the subnet down


def test_no_temporary_address_when_the_source_already_sits_in_the_target_subnet() -> None:
    a = Endpoint("a", "eth1", "red", "red", 1, "10.0.0.1", "10.0.0.0/24")
    b = Endpoint("b", "eth1", "blue", "blue", 2, "10.0.0.2", "10.0.0.0/24")  # overlapping tenant subnets
    state = replace(expected_state(load_fabric(DEMO_INVENTORY)), endpoints=(a, b))
    sessions, _ = plan_isolation(state, [Probe("isolation", a, b)])
    assert [(s.source.node, s.temporary) for s in sessions] == [("a", None)]


def test_free_address_skips_taken_ones_and_refuses_tiny_subnets() -> None:
    assert _free_address("10.0.0.0/29", {"10.0.0.6"}) == "10.0.0.5"
    assert _free_address("10.0.0.0/31", set()) is None
    assert _free_address("2001:db8::/126", set()) == "2001:db8::3"


def _session(demo) -> IsolationSession:
    probes = [p for p in demo.probes if p.kind == "isolation" and p.source.label == "h1 eth1 10.10.10.1"
              and p.target.network == "10.20.30.0/24"]
    return IsolationSession(probes[0].source, "10.20.30.0/24", tuple(probes), "10.20.30.254")


def test_isolation_verdicts_from_the_session_output(demo) -> None:
    session = _session(demo)
    script = _isolation_script(session)
    assert script.count("ping -4 -n -c 2 -i 0.2 -W 1 -I eth1 10.20.30.") == 2 and script.endswith("wait")
    output = CommandResult(0, "silent 10.20.30.3\nanswered 10.20.30.4\n", "")
    verdicts = {r.probe.target.ip: (r.passed, r.actual) for r in _isolation_results(session, output, "via eth1")}
    assert verdicts["10.20.30.3"] == (True, "no reply (via eth1)")
    assert verdicts["10.20.30.4"] == (False, "REPLY: segments leak (via eth1)")


def test_a_probe_that_could_not_run_is_a_failure_not_a_pass(demo) -> None:
    session = _session(demo)
    errored = CommandResult(0, "error 10.20.30.3 2\n", "")
    results = {r.probe.target.ip: r for r in _isolation_results(session, errored, "via eth1")}
    assert not results["10.20.30.3"].passed and "ping exit 2" in results["10.20.30.3"].actual
    assert not results["10.20.30.4"].passed and "did not run" in results["10.20.30.4"].actual


@pytest.mark.skipif(not CAPTURE.exists(), reason="no lab capture")
def test_host_macs_from_a_captured_ip_link_show() -> None:
    text = (scenario_dir("healthy") / "h1" / "ip_-j_link_show.json").read_text()
    macs = parse_link_macs(text)
    assert "lo" not in macs  # loopback has no ethernet address worth checking
    assert {"eth0", "eth1"} <= set(macs)
    assert all(len(mac) == 17 and mac == mac.lower() for mac in macs.values())
