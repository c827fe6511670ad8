"""WAN impairment settings (containerlab's netem flags and topology `vars.netem`) and the frames a migrated
VM announces itself with, decoded by tshark (a real dissector, not our own parser)."""

from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from vxauto.errors import VxautoError
from vxauto.lab import wan
from vxauto.lab.announce import arp_announcement, unsolicited_na
from vxauto.lab.topology import load_topology

MULTISITE = REPO / "containerlab" / "multisite.clab.yml"


@pytest.mark.parametrize(("text", "ms"), [("10ms", 10.0), ("1.5s", 1500.0), ("500us", 0.5), ("2m", 120_000.0)])
def test_durations_as_containerlab_takes_them(text: str, ms: float) -> None:
    assert wan.parse_duration(text) == ms


@pytest.mark.parametrize("text", ["10", "ms", "-5ms", "10 ms", "ten"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        wan.parse_duration(text)


def test_flags_round_trip_to_containerlab_and_netem() -> None:
    impaired, errors = wan.impairment({"delay": "20ms", "jitter": "2ms", "loss": 1.5, "rate": 10000, "corruption": 0.1})
    assert not errors and impaired is not None
    topology = load_topology(MULTISITE)
    assert wan.containerlab_argv(topology, "spine1", "eth3", impaired) == [
        "containerlab", "tools", "netem", "set", "-n", "clab-multisite-spine1", "-i", "eth3",
        "--delay", "20ms", "--jitter", "2ms", "--loss", "1.5", "--rate", "10000", "--corruption", "0.1"]
    assert wan._netem_args(impaired) == ["delay", "20ms", "2ms", "loss", "1.5%", "rate", "10000kbit",
                                         "corrupt", "0.1%"]
    assert impaired.needs_delay_line
    assert not wan.Impairment(rate_kbit=1000).needs_delay_line  # rate alone: tbf, no delay line


@pytest.mark.parametrize(("values", "key", "message"), [
    ({"delay": "fast"}, "delay", "duration"),
    ({"loss": 120}, "loss", "between 0 and 100"),
    ({"rate": "1mbit"}, "rate", "kbit/s"),
    ({"jitter": "2ms"}, "jitter", "needs a delay"),
    ({"latency": "2ms"}, "latency", "unknown netem setting"),
])
def test_bad_impairments_name_the_setting(values: dict, key: str, message: str) -> None:
    impaired, errors = wan.impairment(values)
    assert impaired is None
    assert [(k, m) for k, m, _ in errors if k == key and message in m], errors


def test_topology_declares_the_wan_delay_on_both_ends() -> None:
    declared = wan.declared(load_topology(MULTISITE))
    assert [(d.node, d.interface, d.impairment.delay_ms) for d in declared] == [
        ("spine1", "eth3", 10.0), ("spine2", "eth3", 10.0)]


def test_bad_declared_impairment_names_file_line_and_value(tmp_path: Path) -> None:
    text = MULTISITE.read_text().replace("netem: {delay: 10ms}", "netem: {delay: 10ms, loss: lots}")
    broken = tmp_path / "multisite.clab.yml"
    broken.write_text(text)
    with pytest.raises(VxautoError) as caught:
        wan.declared(load_topology(broken))
    line = str(caught.value)
    assert "multisite.clab.yml:" in line and "topology.links[4].vars.netem.loss" in line and "'lots'" in line


def _tshark(frames: list[bytes], tmp_path: Path, fields: list[str]) -> list[list[str]]:
    capture = tmp_path / "frames.pcap"
    with capture.open("wb") as handle:
        handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # pcap, Ethernet
        for frame in frames:
            handle.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
    argv = ["tshark", "-r", str(capture), "-T", "fields", *(x for f in fields for x in ("-e", f))]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    return [line.split("\t") for line in result.stdout.splitlines()]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_announcements_decode_as_gratuitous_arp_and_unsolicited_override_na(tmp_path: Path) -> None:
    mac = bytes.fromhex("020000400001")
    good = unsolicited_na(mac, ipaddress.IPv6Address("fe80::1"))
    broken = good[:-9] + bytes([good[-9] ^ 0xFF]) + good[-8:]  # negative control: one byte of the NA changed
    arp = arp_announcement(mac, ipaddress.IPv4Address("10.40.10.1"))
    rows = _tshark([arp, good, broken], tmp_path, [
        "arp.isannouncement", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "eth.src", "icmpv6.checksum.status",
        "icmpv6.nd.na.flag.o", "icmpv6.nd.na.flag.s", "icmpv6.nd.na.target_address", "icmpv6.opt.linkaddr"])
    assert rows[0][:4] == ["1", "10.40.10.1", "10.40.10.1", "02:00:00:40:00:01"]
    assert rows[1][3:] == ["02:00:00:40:00:01", "1", "1", "0", "fe80::1", "02:00:00:40:00:01"]  # checksum good
    assert rows[2][4] == "0"  # the changed frame's checksum is bad: tshark does verify it
