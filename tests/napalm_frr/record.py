"""Record the mocked data of NAPALM's getter suite from the evpn-frr lab (leaf1), as napalm's drivers keep theirs.

    flock /tmp/vxauto-lab.lock .venv/bin/python -m tests.napalm_frr.record

Brings evpn-frr up with the configs `vxauto render` writes for inventory/, adds what NAPALM's suite asks
about and the demo fabric lacks, runs each BaseTestGetters test body against the real driver (host keys
checked) with its SSH session wrapped so every command and answer is kept, writes
mocked_data/test_<getter>/evpn-frr-leaf1/ (one file per command + expected_result.json) and takes the lab down.

The additions (all on top of the rendered fabric; listed again in mocked_data/README.md):
- spine2 announces 8.8.8.8/32 (on lo), 1.0.4.0/24 and 1.0.4.128/25 (blackhole routes) into BGP: the suite
  asks for routes to 1.0.4.0/24 and pings/traceroutes 8.8.8.8;
- leaf1 pings ff02::1 on eth1 once, so its IPv6 neighbour table has entries;
- lldpd runs on leaf1, spine1 and spine2 (1 s transmit interval);
- an NTP client configuration file (chrony syntax) in leaf1's node directory, read instead of /etc, since
  lab nodes share the machine's /etc.
"""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from napalm.base.test.getters import BaseTestGetters

from tests.conftest import DEMO_INVENTORY
from tests.lab.conftest import CONTAINERLAB, rendered_lab
from tests.napalm_frr.double import MOCKED_DATA, mock_key
from vxauto.devices.napalm_frr.driver import DEFAULT_STATE_DIR, FrrDriver
from vxauto.devices.napalm_frr.getters_more import NTP_CONFIG_FILES
from vxauto.devices.napalm_frr.remote import Completed, Session
from vxauto.lab import api

NODE = "leaf1"
CASE = "evpn-frr-leaf1"
TOPOLOGY = CONTAINERLAB / "evpn-frr.clab.yml"
NTP_CONFIG = "server 10.0.0.1 iburst\nserver 10.0.0.2 iburst prefer\npool 2.debian.pool.ntp.org iburst\n"
#: Suite tests the driver does not answer (NotImplementedError), the one recorded elsewhere (VLANs: this
#: kernel has no bridge VLAN filtering, see mocked_data/test_get_vlans/*/SOURCE.md) and the one this kernel
#: cannot answer at all (no VRF devices: `ip link add TEST type vrf` says "Unknown device type").
NOT_RECORDED = {"test_method_signatures", "test_get_ntp_peers", "test_get_ntp_stats",
                "test_get_snmp_information", "test_get_probes_config", "test_get_probes_results",
                "test_get_optics", "test_get_firewall_policies", "test_get_vlans", "test_get_arp_table_with_vrf"}


class RecordingSession:
    """The driver's real session; keeps (command, answer) of everything it runs."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.answers: list[Completed] = []

    def alive(self) -> bool:
        return self.session.alive()

    def close(self) -> None:
        self.session.close()

    def run(self, command: str, timeout: float | None = None) -> Completed:
        result = self.session.run(command, timeout)
        self.answers.append(result)
        return result

    def batch(self, commands: dict[str, str], timeout: float | None = None) -> dict[str, Completed]:
        results = self.session.batch(commands, timeout)
        self.answers += [results[name] for name in commands]
        return results

    def put_files(self, files: dict[str, str | bytes], then: str = "", timeout: float | None = None) -> Completed:
        raise AssertionError("a getter wrote files on the device")


def sh(lab: api.Lab, node: str, command: str) -> str:
    return lab.exec_in(node, command, check=True).stdout


def prepare(lab: api.Lab, work: Path) -> tuple[list[subprocess.Popen[bytes]], dict[str, str]]:
    """The additions listed in the module docstring; returns the lldpd processes and the lldpd sockets."""
    sh(lab, "spine2", "ip addr add 8.8.8.8/32 dev lo && ip route add blackhole 1.0.4.0/24 && "
                      "ip route add blackhole 1.0.4.128/25")
    lab.exec_in("spine2", ["vtysh", "-c", "configure", "-c", "router bgp 65000", "-c", "address-family ipv4 unicast",
                           "-c", "network 8.8.8.8/32", "-c", "network 1.0.4.0/24", "-c", "network 1.0.4.128/25"],
                check=True)
    # IPv6 neighbour entries: the fabric runs IPv4 only, so ask the link-local all-nodes group once
    lab.exec_in(NODE, "ping -6 -c 2 -W 1 ff02::1%eth1")
    # the spines first: leaf1's lldpd then hears them from its first transmit interval on
    sockets = {node: f"{lab.node(node).node_dir}/lldpd.socket" for node in ("spine1", "spine2", NODE)}
    daemons = [subprocess.Popen(lab.node_argv(node, ["lldpd", "-d", "-u", socket, "-I", "eth1,eth2"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for node, socket in sockets.items()]
    deadline = time.monotonic() + 10
    while not all(Path(socket).exists() for socket in sockets.values()):
        if time.monotonic() > deadline:
            raise SystemExit("lldpd did not create its sockets")
        time.sleep(0.1)
    for node, socket in sockets.items():
        sh(lab, node, f"lldpcli -u {socket} configure lldp tx-interval 1")
    for node, socket in sockets.items():
        sh(lab, node, f"lldpcli -u {socket} update")  # send now, not at the next interval
    return daemons, sockets


def driver_for(lab: api.Lab, socket: str, ntp_file: Path) -> FrrDriver:
    ssh = lab.ssh_options(NODE)
    device = FrrDriver(str(ssh["host"]), "root", "", optional_args={
        "key_file": ssh["key_file"], "known_hosts": ssh["known_hosts"], "vtysh_pathspace": ssh["namespace"],
        "state_dir": str(Path(lab.node(NODE).node_dir) / "vxauto-state"), "lldpd_socket": socket,
    })
    device.ntp_config_files = (str(ntp_file),)
    return device


def wait_until(check: Callable[[], bool], what: str, diagnose: Callable[[], str] = str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}: {diagnose()}")
        time.sleep(0.5)


def suite_tests() -> dict[str, Callable[..., Any]]:
    """The body of every BaseTestGetters test (the function under NAPALM's mock wrapper)."""
    tests = {}
    for name, function in inspect.getmembers(BaseTestGetters, inspect.isfunction):
        if name.startswith("test_") and name not in NOT_RECORDED:
            tests[name] = inspect.unwrap(function)
    return tests


def write_case(name: str, result: Any, answers: list[Completed], replacements: dict[str, str]) -> None:
    directory = MOCKED_DATA / name / CASE
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    written: dict[str, str] = {}
    for answer in answers:
        key = mock_key(answer.command, replacements)
        stdout = answer.stdout
        for old, new in replacements.items():
            stdout = stdout.replace(old, new)
        if key in written and written[key] != stdout:
            continue  # asked twice (get_config_filtered): the first answer serves both
        written[key] = stdout
        (directory / f"{key}.txt").write_text(stdout, encoding="utf-8")
        if answer.returncode:
            (directory / f"{key}.rc").write_text(f"{answer.returncode}\n")
    expected = json.loads(json.dumps(result))
    (directory / "expected_result.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="napalm-frr-record-"))
    with rendered_lab(DEMO_INVENTORY, TOPOLOGY, work) as lab:
        lab.wait_bgp(timeout=90)
        daemons, sockets = prepare(lab, work)
        ntp_file = Path(lab.node(NODE).node_dir) / "chrony.conf"
        ntp_file.write_text(NTP_CONFIG)
        device = driver_for(lab, sockets[NODE], ntp_file)
        device.open()
        try:
            wait_until(lambda: len(device.get_lldp_neighbors()) == 2, "LLDP neighbours on eth1 and eth2",
                       lambda: str(device.cli([f"lldpctl -u {sockets[NODE]}; ps -ef | grep lldp"])))
            wait_until(lambda: "1.0.4.128/25" in device.get_route_to("1.0.4.0/24", "bgp", longer=True),
                       "spine2's prefixes at leaf1")
            wait_until(lambda: "success" in device.ping("8.8.8.8", count=1), "8.8.8.8 answering")
            namespace = lab.node(NODE).namespace
            replacements = {
                f"-N {namespace} ": "", f"--pathspace {namespace} ": "",
                f"/etc/frr/{namespace}/": "/etc/frr/",
                device.state_dir: DEFAULT_STATE_DIR, f" -u {sockets[NODE]}": "",
                str(ntp_file): " ".join(NTP_CONFIG_FILES),  # what the driver reads by default
            }
            version = lab.vtysh(NODE, "show version").strip().splitlines()[0]
            session = device._ssh()
            recorded = []
            for name, body in suite_tests().items():
                recorder = RecordingSession(session)
                device._session = recorder  # type: ignore[assignment]
                holder = type("Case", (), {"device": device})()
                result = body(holder, CASE)
                write_case(name, result, recorder.answers, replacements)
                recorded.append(name)
            device._session = session
        finally:
            device.close()
            for daemon in daemons:
                daemon.kill()
                daemon.wait()
        kernel = subprocess.run(["uname", "-sr"], capture_output=True, text=True, check=True).stdout.strip()
    readme = MOCKED_DATA / "README.md"
    readme.write_text(
        "# Mocked data of NAPALM's getter suite for the Linux/FRR driver\n\n"
        f"Case `{CASE}`: recorded by `tests/napalm_frr/record.py` on {datetime.now(UTC):%Y-%m-%d} from node "
        f"{NODE} of the evpn-frr netns lab ({version}; {kernel}), configured by `vxauto render` from inventory/ "
        "plus the additions listed in record.py's docstring (8.8.8.8/32 and 1.0.4.0/24, 1.0.4.128/25 announced "
        "by spine2; one ping to ff02::1 from leaf1; lldpd on leaf1/spine1/spine2; a chrony-syntax NTP file).\n"
        "One file per command the driver sent (`sanitize_text(command)`, pathspace/state directory/socket "
        "paths made node-independent), `.rc` for a non-zero exit, and expected_result.json (the driver's "
        "answer at recording time, reviewed).\n\nRecorded tests: " + ", ".join(sorted(recorded)) + ".\n"
        "test_get_vlans uses a public capture instead (see its SOURCE.md); test_get_arp_table_with_vrf has no "
        "case: the lab machine's kernel has no VRF devices (`ip link add TEST type vrf`: Unknown device type).\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
