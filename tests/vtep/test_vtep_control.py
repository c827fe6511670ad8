"""EVPN messages for GoBGP's gRPC API, the management API and the CLI."""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from vxauto.cli.vtep import app
from vxauto.vtep import coalescing, gobgp, headers, packet
from vxauto.vtep.api import handle_request
from vxauto.vtep.config import VniConfig, config_from_text, load_config
from vxauto.vtep.datapath import Datapath
from vxauto.vtep.engine import Engine, _complete_checksum, _ipv4_partial_header
from vxauto.vtep.evpn import EvpnAgent, beats, gobgpd_config, imports, mac_speaker_config
from vxauto.vtep.fdb import Kind
from vxauto.vtep.gobgpapi import attribute_pb2
from vxauto.vtep.kernel import VNET_HDR, VNET_ZERO
from vxauto.vtep.packet import mac_bytes, mac_text


def test_gobgp_paths_read_back_as_route_events() -> None:
    """What pyvtep sends GoBGP reads back the same (and GoBGP reports paths in this form)."""
    mac = gobgp.route_event(gobgp.mac_path("10.0.0.1", 7, "10.0.0.1", 100, "65001:100", "02:00:00:00:00:01", 3))
    assert mac is not None
    assert (mac.route_type, mac.vni, mac.remote, mac.mac, mac.sequence) == (2, 100, "10.0.0.1",
                                                                             mac_bytes("02:00:00:00:00:01"), 3)
    assert mac.route_targets == ("65001:100",) and mac.key.startswith("2|10.0.0.1:7|") and not mac.withdrawal
    unmoved = gobgp.route_event(gobgp.mac_path("10.0.0.1", 7, "10.0.0.1", 100, "65001:100", "02:00:00:00:00:01"))
    assert unmoved is not None and unmoved.sequence == 0 and unmoved.key == mac.key  # one NLRI
    imet = gobgp.route_event(gobgp.imet_path("10.0.0.1", 7, "10.0.0.9", 100, "4200000000:100"))
    assert imet is not None
    assert (imet.route_type, imet.vni, imet.remote, imet.route_targets) == (3, 100, "10.0.0.9", ("4200000000:100",))
    assert gobgp.route_event(gobgp.prefix_path("10.0.0.1/32", "0.0.0.0")) is None
    with_ip = gobgp.route_event(gobgp.mac_path("10.0.0.1", 7, "10.0.0.1", 100, "65001:100", "02:00:00:00:00:01",
                                               ip="192.168.1.5"))
    assert with_ip is not None and with_ip.ip == "192.168.1.5" and with_ip.key != mac.key
    # GoBGP fills a MAC-only route's address with "<nil>"
    nil = gobgp.mac_path("10.0.0.1", 7, "10.0.0.1", 100, "65001:100", "02:00:00:00:00:01")
    nlri = attribute_pb2.EVPNMACIPAdvertisementRoute()
    nil.nlri.Unpack(nlri)
    nlri.ip_address = "<nil>"
    nil.nlri.Pack(nlri)
    assert (event := gobgp.route_event(nil)) is not None and event.ip is None


def test_rd_indexes_are_unique_and_stable() -> None:
    indexes = gobgp.assign_rd_indexes([10, 65546, 131082, 65536], {})
    assert indexes[10] == 10 and len(set(indexes.values())) == 4 and all(1 <= i <= 0xFFFF for i in indexes.values())
    assert gobgp.assign_rd_indexes([65546, 20], indexes) == {65546: indexes[65546], 20: 20}  # kept across reloads


def test_mac_mobility_winner() -> None:
    assert beats(2, "10.0.0.9", 1, "10.0.0.1")  # higher sequence number wins
    assert beats(1, "10.0.0.1", 1, "10.0.0.9") and not beats(1, "10.0.0.9", 1, "10.0.0.1")  # tie: lower IP


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


def test_gobgpd_reads_the_mac_speaker_configs(tmp_path: Path) -> None:
    """gobgpd's own config check (--dry-run) accepts the front speaker (iBGP to the MAC speakers, the export
    policy) and a MAC speaker; a misspelt key is its positive control."""
    gobgpd = "/usr/bin/gobgpd"
    if not Path(gobgpd).exists():
        pytest.skip("gobgpd not installed")
    config = config_from_text("local_ip: 10.0.0.1\nevpn: {asn: 65001, neighbors: [{address: 10.1.0.2, asn: 65002}],"
                              " mac_speakers: 3}\n")
    assert config.evpn is not None
    front = gobgpd_config(config.evpn, "10.0.0.1", "10.0.0.1")
    assert front.count("passive-mode = true") == 3 and 'set-next-hop = "10.0.0.1"' in front
    speaker = mac_speaker_config(config.evpn, 2)
    assert 'local-address = "127.0.1.2"' in speaker and "port = -1" in speaker

    def accepted(text: str) -> bool:
        path = tmp_path / "gobgpd.toml"
        path.write_text(text)
        done = subprocess.run([gobgpd, "-f", str(path), "--dry-run"], check=False, capture_output=True, timeout=30)
        return done.returncode == 0

    assert accepted(front) and accepted(speaker)
    assert not accepted(front.replace("afi-safi-in-list", "afi-safi-in"))


def test_inlined_checksum_helpers_agree_with_the_reference() -> None:
    rng = random.Random(5)
    for _ in range(300):
        size = rng.randint(0, 1400)
        protocol = rng.choice([6, 17])
        l4 = (struct.pack("!HHIIBBHHH", 1, 2, 3, 4, 0x50, 0x10, 5, 0, 0) if protocol == 6
              else struct.pack("!HHHH", 1, 2, 8 + size, 0)) + os.urandom(size)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, protocol, 0, os.urandom(4), os.urandom(4))
        ip = ip[:10] + struct.pack("!H", 0xFFFF - packet.fold(packet.ones_sum(ip))) + ip[12:]
        frame = bytearray(b"\x02" * 12 + b"\x08\x00" + ip + l4)
        where = 34 + (16 if protocol == 6 else 6)
        pseudo = packet.ipv4_pseudo_sum(frame, 14, protocol, len(l4))
        struct.pack_into("!H", frame, where, packet.fold(pseudo))  # what CHECKSUM_PARTIAL leaves
        assert _ipv4_partial_header(memoryview(frame)) == headers.partial_checksum_header(memoryview(frame))
        assert VNET_HDR.unpack(_ipv4_partial_header(memoryview(frame)))[0] == 1
        slot = bytearray(4) + VNET_HDR.pack(1, 0, 0, 0, 34, where - 34, 0) + frame
        reference = bytearray(frame)
        headers.complete_checksum(reference, 34, where - 34)
        assert _complete_checksum(memoryview(slot), 16, len(slot))
        assert slot[16:] == reference
        assert coalescing.tcp_segment_ok(reference, headers.parse_layers(reference)) or protocol == 17
        assert_complete_checksum_is_kept(reference, where - 34)


def assert_complete_checksum_is_kept(frame: bytearray, offset: int) -> None:
    """A complete checksum is written as it is (no NEEDS_CSUM), unless it happens to equal the pseudo-header
    sum (1 in 65,536): then it is marked partial, and completing it again yields itself (harmless)."""
    header = _ipv4_partial_header(memoryview(frame))
    assert header == (headers.partial_checksum_header(memoryview(frame)) or VNET_ZERO)
    if header != VNET_ZERO:
        layers = headers.parse_layers(frame)
        assert headers.checksum_is_partial(frame, layers, len(frame) - layers.l4)
        again = bytearray(frame)
        headers.complete_checksum(again, 34, offset)
        assert again == frame


def test_a_complete_checksum_equal_to_the_pseudo_header_sum_is_completed_into_itself() -> None:
    """The coincidence the random frames above meet about once in 300 runs, built on purpose: a UDP payload
    whose last word makes the complete checksum equal the pseudo-header sum."""
    payload = bytearray(b"coincidence!")
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                     bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack("!H", 0xFFFF - packet.fold(packet.ones_sum(ip))) + ip[12:]
    frame = bytearray(b"\x02" * 12 + b"\x08\x00" + ip + struct.pack("!HHHH", 1, 2, 8 + len(payload), 0) + payload)
    pseudo = packet.fold(packet.ipv4_pseudo_sum(frame, 14, 17, 8 + len(payload)))
    struct.pack_into("!H", frame, 40, pseudo)  # what CHECKSUM_PARTIAL leaves, as the random frames above
    struct.pack_into("!H", frame, len(frame) - 2, 0)
    rest = packet.fold(packet.ones_sum(frame[34:]))  # everything completing sums, but the payload's last word
    # complete = ~(rest + last) must equal pseudo, so last = ~pseudo - rest in ones' complement arithmetic
    struct.pack_into("!H", frame, len(frame) - 2, packet.fold((0xFFFF - pseudo) + (0xFFFF - rest)))
    headers.complete_checksum(frame, 34, 6)
    assert (frame[40] << 8 | frame[41]) == pseudo  # the coincidence is there
    assert _ipv4_partial_header(memoryview(frame)) != VNET_ZERO
    assert_complete_checksum_is_kept(frame, 6)


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
        table = engine.datapath.segments[5].table
        table.learn_local(mac_bytes("02:00:00:00:00:01"), 0.0)
        table.learn_remote(mac_bytes("02:00:00:00:00:02"), "10.0.0.2", 0.0)
        table.set_static(mac_bytes("02:00:00:00:00:03"), "10.0.0.2", 0.0)
        assert not handle_request(engine, {"op": "flush", "macs": ["not-a-mac"]})["ok"]
        assert handle_request(engine, {"op": "flush", "vni": 5, "macs": ["02:00:00:00:00:02"]})["result"] == {
            "flushed": 1}
        assert handle_request(engine, {"op": "flush"})["result"] == {"flushed": 1}  # static entries stay
        assert [r["type"] for r in handle_request(engine, {"op": "macs"})["result"]] == ["static"]
    finally:
        engine.close()


def test_api_config_answers_the_file_and_the_configuration_in_force(tmp_path: Path) -> None:
    """What the pyvtep NAPALM driver diffs against and verifies a commit with: the file `reload` reads and
    the loaded configuration, which differ after an edit without a reload."""
    path = tmp_path / "pyvtep.yaml"
    path.write_text("local_ip: 10.0.0.1\nvnis: [{vni: 5, flood: [10.0.0.2]}]\n")
    engine = Engine(load_config(path), path)
    try:
        reply = handle_request(engine, {"op": "config"})["result"]
        assert reply["path"] == str(path) and reply["file"] == path.read_text()
        assert reply["running"]["vnis"][0]["flood"] == ["10.0.0.2"] and reply["running"]["local_ip"] == "10.0.0.1"
        path.write_text("local_ip: 10.0.0.1\nvnis: [{vni: 5, flood: [10.0.0.3]}]\n")
        edited = handle_request(engine, {"op": "config"})["result"]
        assert "10.0.0.3" in edited["file"] and edited["running"] == reply["running"]
        path.unlink()
        assert handle_request(engine, {"op": "config"})["result"]["file"] is None
    finally:
        engine.close()
    without_file = Engine(config_from_text("local_ip: 10.0.0.1\nvnis: [{vni: 5}]\n"))
    try:
        assert handle_request(without_file, {"op": "config"})["result"]["path"] is None
    finally:
        without_file.close()


def test_python_m_vxauto_vtep_checks_a_config_without_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("local_ip: 10.0.0.1\nvnis: [{vni: 5}, {vni: 5}]\n")
    code = ("import sys, vxauto.vtep.__main__ as m; rc = m.main(['check', sys.argv[1]]); "
            "assert not [n for n in sys.modules if n.startswith('vxauto.cli')]; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "duplicate VNI" in done.stderr and "Traceback" not in done.stderr


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


EVPN_CONFIG = """
local_ip: 10.0.0.13
vnis:
  - {vni: 10010, learning: false}
evpn: {asn: 65103, neighbors: [{address: 10.1.3.0, asn: 65000}]}
"""


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EvpnAgent]:
    """The EVPN agent's bookkeeping on a real datapath, without starting gobgpd (no advertiser threads run:
    what it would send stays in its advertisers' `wanted` tables)."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    config = config_from_text(EVPN_CONFIG)
    assert config.evpn is not None
    datapath = Datapath(config)
    engine = SimpleNamespace(config=config, datapath=datapath)
    evpn = EvpnAgent(engine, config.evpn)  # type: ignore[arg-type]
    for segment in datapath.segments.values():
        evpn.segment_added(segment)
        segment.table.local_listener = lambda mac, entry, seg=segment: evpn.local_mac(seg, mac, entry is not None)
    yield evpn
    shutil.rmtree(evpn.workdir, ignore_errors=True)


def advertised_sequence(evpn: EvpnAgent, mac: bytes) -> int | None:
    path = evpn.advertiser.wanted.get(f"mac|10010|{mac.hex()}")
    event = gobgp.route_event(path) if path is not None else None
    return None if event is None else event.sequence


def test_a_mac_learned_again_never_advertises_a_lower_sequence_than_before(agent: EvpnAgent) -> None:
    """RFC 7432 section 15.1 with GoBGP's rule: GoBGP refuses a sequence number below one it holds, and our
    own route may still be there (its withdrawal not yet sent) when the MAC shows up here again."""
    segment, vm = agent.engine.datapath.segments[10010], mac_bytes("02:00:00:00:0a:01")
    leaf1 = gobgp.route_event(gobgp.mac_path("10.0.0.11", 1, "10.0.0.11", 10010, "65000:10010", mac_text(vm), 2))
    assert leaf1 is not None
    agent.apply(leaf1)  # the VM lives behind leaf1 (moved there twice before)
    assert segment.table.lookup(vm).kind == Kind.EVPN  # type: ignore[union-attr]
    segment.table.learn_local(vm, 0.0)  # it moves here: outbid leaf1
    assert advertised_sequence(agent, vm) == 3 and agent.mac_moves == 1
    agent.apply(replace(leaf1, withdrawal=True))  # leaf1 withdraws its route
    segment.table.remove(vm, Kind.LOCAL)  # the VM leaves (or ages out) ...
    assert advertised_sequence(agent, vm) is None
    segment.table.learn_local(vm, 1.0)  # ... and comes back before anyone else advertised it
    assert advertised_sequence(agent, vm) == 3  # not 0: GoBGP still holds 3 until the withdrawal is sent
    other = mac_bytes("02:00:00:00:0a:02")
    segment.table.learn_local(other, 1.0)  # positive control: a MAC never seen anywhere starts at 0
    assert advertised_sequence(agent, other) == 0
