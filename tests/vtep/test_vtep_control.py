"""EVPN route parsing (GoBGP JSON captured in this lab), the management API and the CLI."""

from __future__ import annotations

import json
import os
import random
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vxauto.cli.vtep import app
from vxauto.vtep import offload
from vxauto.vtep.api import handle_request
from vxauto.vtep.config import VniConfig, config_from_text
from vxauto.vtep.engine import Engine, _complete_checksum, _ipv4_partial_header
from vxauto.vtep.evpn import gobgpd_config, imports, parse_paths
from vxauto.vtep.kernel import VNET_HDR, VNET_ZERO
from vxauto.vtep.packet import mac_bytes

# `gobgp monitor global rib -a evpn -j --current` lines from gobgpd 3.10 (Debian 12) in this lab:
# an IMET and a MAC route as announced, then the MAC route's withdrawal.
MONITOR_LINES = [
    '[{"nlri":{"type":3,"value":{"rd":{"type":1,"admin":"10.99.0.2","assigned":100},"etag":0,"ip":"10.99.0.2"}},'
    '"age":1795718956,"best":false,"attrs":[{"type":1,"value":2},{"type":16,"value":[{"type":0,"subtype":2,'
    '"value":"65001:100"},{"type":3,"subtype":12,"tunnel_type":8}]},{"type":22,"is-leaf-info-required":false,'
    '"tunnel-type":6,"label":100,"tunnel-id":"10.99.0.2"},{"type":14,"nexthop":"10.99.0.2","afi":25,"safi":70,'
    '"value":[{"type":3,"value":{"rd":{"type":1,"admin":"10.99.0.2","assigned":100},"etag":0,"ip":"10.99.0.2"}}]}],'
    '"stale":false},{"nlri":{"type":2,"value":{"rd":{"type":1,"admin":"10.99.0.2","assigned":100},'
    '"esi":"single-homed","etag":0,"mac":"02:00:00:00:00:01","ip":"\\u003cnil\\u003e","labels":[100]}},'
    '"age":1795718956,"best":false,"attrs":[{"type":1,"value":2},{"type":16,"value":[{"type":0,"subtype":2,'
    '"value":"65001:100"},{"type":3,"subtype":12,"tunnel_type":8}]},{"type":14,"nexthop":"10.99.0.2","afi":25,'
    '"safi":70,"value":[]}],"stale":false},{"nlri":{"prefix":"10.99.0.2/32"},"age":1795718956,"best":false,'
    '"attrs":[{"type":1,"value":2},{"type":3,"nexthop":"0.0.0.0"}],"stale":false}]',
    '[{"nlri":{"type":2,"value":{"rd":{"type":1,"admin":"10.99.0.2","assigned":100},"esi":"single-homed",'
    '"etag":0,"mac":"02:00:00:00:00:01","ip":"\\u003cnil\\u003e","labels":[100]}},"age":1795718956,'
    '"best":false,"attrs":[{"type":14,"nexthop":"10.99.0.2","afi":25,"safi":70,"value":[]}],"stale":false,'
    '"withdrawal":true}]',
]


def test_parse_gobgp_monitor_output() -> None:
    imet, mac = parse_paths(json.loads(MONITOR_LINES[0]))  # the ipv4-unicast path is skipped
    assert (imet.route_type, imet.vni, imet.remote, imet.mac, imet.withdrawal) == (3, 100, "10.99.0.2", None, False)
    assert imet.route_targets == ("65001:100",)
    assert (mac.route_type, mac.vni, mac.remote, mac.mac) == (2, 100, "10.99.0.2", mac_bytes("02:00:00:00:00:01"))
    (withdrawn,) = parse_paths(json.loads(MONITOR_LINES[1]))
    assert withdrawn.withdrawal and withdrawn.key == mac.key
    assert parse_paths({"not": "a list"}) == [] and parse_paths([1, None, {"nlri": "x"}]) == []


def test_route_target_import_rules() -> None:
    auto = VniConfig(vni=10010)
    assert imports(auto, ("65002:10010",)) and imports(auto, ("65001:10010", "1:2"))
    assert not imports(auto, ("65002:10020",)) and not imports(auto, ())
    explicit = VniConfig(vni=10010, route_target="65000:1")
    assert imports(explicit, ("65000:1",)) and not imports(explicit, ("65002:10010",))


def test_gobgpd_config_has_both_families_per_neighbor() -> None:
    config = config_from_text("local_ip: 10.0.0.1\nevpn: {asn: 65001, neighbors: [{address: 10.1.0.2, asn: 65002}]}\n")
    assert config.evpn is not None
    text = gobgpd_config(config.evpn, "10.0.0.1")
    assert 'neighbor-address = "10.1.0.2"' in text and "peer-as = 65002" in text
    assert text.count("afi-safi-name") == 2 and 'router-id = "10.0.0.1"' in text


def test_inlined_checksum_helpers_agree_with_the_reference() -> None:
    rng = random.Random(5)
    for _ in range(300):
        size = rng.randint(0, 1400)
        protocol = rng.choice([6, 17])
        l4 = (struct.pack("!HHIIBBHHH", 1, 2, 3, 4, 0x50, 0x10, 5, 0, 0) if protocol == 6
              else struct.pack("!HHHH", 1, 2, 8 + size, 0)) + os.urandom(size)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, protocol, 0, os.urandom(4), os.urandom(4))
        ip = ip[:10] + struct.pack("!H", 0xFFFF - offload.fold(offload.ones_sum(ip))) + ip[12:]
        frame = bytearray(b"\x02" * 12 + b"\x08\x00" + ip + l4)
        where = 34 + (16 if protocol == 6 else 6)
        pseudo = offload.ipv4_pseudo_sum(frame, 14, protocol, len(l4))
        struct.pack_into("!H", frame, where, offload.fold(pseudo))  # what CHECKSUM_PARTIAL leaves
        assert _ipv4_partial_header(memoryview(frame)) == offload.partial_checksum_header(memoryview(frame))
        assert VNET_HDR.unpack(_ipv4_partial_header(memoryview(frame)))[0] == 1
        slot = bytearray(4) + VNET_HDR.pack(1, 0, 0, 0, 34, where - 34, 0) + frame
        reference = bytearray(frame)
        offload.complete_checksum(reference, 34, where - 34)
        assert _complete_checksum(memoryview(slot), 16, len(slot))
        assert slot[16:] == reference
        assert offload.tcp_segment_ok(reference, offload.parse_layers(reference)) or protocol == 17
        assert _ipv4_partial_header(memoryview(reference)) == VNET_ZERO  # complete checksums stay as they are
        assert offload.partial_checksum_header(memoryview(reference)) is None


def test_api_answers_and_rejects_bad_requests() -> None:
    engine = Engine(config_from_text("local_ip: 10.0.0.1\nvnis: [{vni: 5, flood: [10.0.0.2]}]\n"))
    try:
        assert handle_request(engine, {"op": "vnis"})["result"][0]["flood"] == ["10.0.0.2"]
        assert handle_request(engine, {"op": "counters"})["result"]["vnis"]["5"]["rx_packets"] == 0
        assert handle_request(engine, {"op": "macs", "vni": 5}) == {"ok": True, "result": []}
        assert not handle_request(engine, {"op": "macs", "vni": "5"})["ok"]
        assert not handle_request(engine, {"op": "format-disk"})["ok"]
        assert not handle_request(engine, ["op"])["ok"]
        assert not handle_request(engine, {"op": "reload"})["ok"]  # no config file behind this engine
        assert handle_request(engine, {"op": "evpn"}) == {"ok": True, "result": None}
    finally:
        engine.close()


def test_cli_check_reports_bad_config_with_exit_code_2(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("local_ip: 10.0.0.1\nvnis: [{vni: 5}]\n")
    bad.write_text("local_ip: 10.0.0.1\nvnis: [{vni: 5}, {vni: 5}]\n")
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(good)])
    assert result.exit_code == 0 and "ok (1 VNIs" in result.output
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert "vnis[1].vni" in result.output and "duplicate VNI" in result.output


@pytest.mark.parametrize("what", ["macs", "bogus"])
def test_cli_show_without_a_daemon_fails_cleanly(what: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["show", what, "--socket", str(tmp_path / "none.sock")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
