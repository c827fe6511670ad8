"""Issue 16 in the lab: two sites over a WAN link with a declared delay, impairments set the way containerlab
users set them (measured here, on a kernel without netem), and VMs live-migrated behind another leaf and into
the other site, keeping MAC, IP and an open TCP connection, with EVPN's MAC-mobility sequence number rising."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.lab.conftest import CONTAINERLAB, assert_gone, cli, footprint, needs_lab_machine, rendered_lab
from vxauto.lab import api, wan
from vxauto.model.fabric import load_fabric
from vxauto.validate.convergence import ValidationRun, run_validation
from vxauto.validate.expected import expected_state
from vxauto.validate.sessions import lab_access

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

TOPOLOGY = CONTAINERLAB / "multisite.clab.yml"
INVENTORY = CONTAINERLAB / "multisite" / "inventory"
DECLARED_ONE_WAY_MS = 10.0  # vars.netem of the WAN link, on both ends
VM1_MAC = "02:00:00:40:00:01"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[api.Lab]:
    with rendered_lab(INVENTORY, TOPOLOGY, tmp_path_factory.mktemp("multisite")) as running:
        running.wait_bgp(timeout=90)
        yield running


def rtt_ms(lab: api.Lab, count: int = 20) -> tuple[float, float, int]:
    """(min, avg RTT in ms, packets lost) of pings from spine1 to spine2 across the WAN link."""
    result = lab.exec_in("spine1", f"ping -n -q -c {count} -i 0.01 -W 2 10.49.0.1", timeout=120)
    received = int(re.search(r"(\d+) received", result.stdout).group(1))  # type: ignore[union-attr]
    times = re.search(r"= ([\d.]+)/([\d.]+)/", result.stdout)
    return (float(times.group(1)), float(times.group(2)), count - received) if times else (0.0, 0.0, count - received)


def test_every_frr_daemon_is_zebras_client_once_the_lab_is_up(lab: api.Lab) -> None:
    """bgpd started before zebra listened would retry only 10 s later (FRR's zclient), and until then its
    leaf has no EVPN at all while its BGP sessions look fine: a move in that window never converged."""
    frr = sorted(name for name, node in lab.state.nodes.items() if node.role == "frr")
    assert len(frr) == 6, frr
    for name in frr:
        table = lab.exec_in(name, "vtysh -c 'show zebra client summary'").stdout
        clients = {line.split()[0] for line in table.splitlines()[2:] if line.strip() and not line.startswith("Routes")}
        assert {"bgp", "static"} <= clients, f"{name}: {table}"


def test_declared_wan_delay_is_observed(lab: api.Lab) -> None:
    methods = {row["method"] for row in wan.shown(lab.state)}
    assert methods <= {"netem", "delay-line"} and methods, methods
    low, average, lost = rtt_ms(lab)
    wanted = 2 * DECLARED_ONE_WAY_MS
    assert lost == 0
    assert wanted <= low and average <= wanted + 10, f"asked {wanted} ms RTT, measured min {low}, avg {average}"
    # the overlay across the sites carries it too: vm1 (dc1) -> vm3 (dc2)
    lab.wait_reachable("vm1", "10.40.10.3", 60)
    result = lab.exec_in("vm1", "ping -n -q -c 5 -i 0.05 10.40.10.3")
    assert float(re.search(r"= ([\d.]+)/", result.stdout).group(1)) >= wanted  # type: ignore[union-attr]


def test_netem_cli_sets_loss_and_rate_and_show_names_the_method(lab: api.Lab) -> None:
    topology = str(TOPOLOGY)
    try:
        code, output = cli("lab", "netem", "set", topology, "-n", "spine1", "-i", "eth3", "--delay", "10ms",
                           "--loss", "50")
        assert code == 0, output
        _, _, lost = rtt_ms(lab, count=200)
        assert 50 <= lost <= 150, f"asked 50% loss of 200 pings, lost {lost}"
        code, output = cli("lab", "netem", "set", topology, "-n", "spine1", "-i", "eth3", "--rate", "2000")
        assert code == 0 and "(by " in output, output
        code, shown = cli("lab", "netem", "show", topology, "-n", "spine1", "--json")
        rows = json.loads(shown)
        assert rows[0]["rate_kbit"] == 2000 and rows[0]["delay_ms"] == 0 and rows[0]["method"] in ("netem", "tbf")
        lab.exec_in("spine2", "iperf3 -s -1 -D -B 10.49.0.1")
        measured = json.loads(lab.exec_in("spine1", "iperf3 -c 10.49.0.1 -t 3 -J", timeout=60).stdout)
        rate = measured["end"]["sum_received"]["bits_per_second"] / 1000
        assert 1000 <= rate <= 2400, f"asked 2000 kbit/s, received {rate:.0f}"
    finally:
        cli("lab", "netem", "set", topology, "-n", "spine1", "-i", "eth3", "--delay", "10ms")
    assert rtt_ms(lab)[2] == 0  # back to the declared delay, no loss


def evpn_mac(lab: api.Lab, leaf: str, mac: str = VM1_MAC) -> dict:
    return json.loads(lab.vtysh(leaf, f"show evpn mac vni 40010 mac {mac} json"))[mac]


def test_vm_moves_behind_another_leaf_and_to_the_other_site_keeping_a_tcp_connection(lab: api.Lab) -> None:
    assert lab.wait_reachable("vm4", "10.40.10.1", 60) >= 0
    before = evpn_mac(lab, "leaf4")
    assert before["type"] == "remote" and before["remoteVtep"] == "10.0.4.11"
    lab.exec_in("vm4", "iperf3 -s -1 -D")
    client = subprocess.Popen(lab.node_argv("vm1", ["iperf3", "-c", "10.40.10.4", "-t", "4", "-i", "0.5",
                                                    "--forceflush", "-b", "20M"]),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert client.stdout is not None
        for line in client.stdout:  # the connection is up once iperf3 reports its first interval
            if " sec " in line:
                break
        code, output = cli("lab", "move", str(TOPOLOGY), "vm1", "--to", "hv2", "--json")
        assert code == 0, output
        moved = json.loads(output)
        assert moved["nics"][0]["bridge"] == "br-web" and moved["announcements"] >= 2
        rest, _ = client.communicate(timeout=60)
    finally:
        client.kill()
    assert client.returncode == 0, rest  # the TCP connection lived through the move (evpn-leaf case)
    lab.wait_reachable("vm4", "10.40.10.1", 30)
    after_leaf = evpn_mac(lab, "leaf4")
    assert after_leaf["remoteVtep"] == "10.0.4.12"
    assert after_leaf["remoteSequence"] > before["remoteSequence"]  # RFC 7432 section 15
    # cross-site: to hv3 behind leaf3 in dc2; the VM keeps its MAC and address
    code, output = cli("lab", "move", str(TOPOLOGY), "vm1", "--to", "hv3")
    assert code == 0, output
    lab.wait_reachable("vm2", "10.40.10.1", 30)  # from dc1 across the WAN link
    assert VM1_MAC in lab.exec_in("vm1", "ip -br link show eth1").stdout
    assert "10.40.10.1/24" in lab.exec_in("vm1", "ip -br addr show eth1").stdout
    on_leaf2 = evpn_mac(lab, "leaf2")
    assert on_leaf2["remoteVtep"] == "10.0.4.13" and on_leaf2["remoteSequence"] > after_leaf["remoteSequence"]
    assert evpn_mac(lab, "leaf3")["type"] == "local"
    assert not on_leaf2["isDuplicate"]
    # and home again: the NIC gets its original name back on hv1
    code, output = cli("lab", "move", str(TOPOLOGY), "vm1", "--to", "hv1")
    assert code == 0 and "hv1:eth2" in output, output


def validate(wait: float = 60.0) -> ValidationRun:
    """`vxauto validate --lab` on the multisite fabric, with the product's own wait."""
    fabric = load_fabric(INVENTORY)
    state = expected_state(fabric)
    access = lab_access(TOPOLOGY, fabric, sorted({*state.devices, *(e.node for e in state.endpoints)}))
    try:
        return run_validation(fabric, None, access.shell, access.params_for, wait=wait)
    finally:
        access.close()


def places(run: ValidationRun, vm: str) -> dict[str, str]:
    return {c.host: c.actual for c in run.checks if c.check == f"mobile {vm} (vni 40010) place"}


def test_validate_finds_each_vm_and_names_a_stale_fdb_entry_on_its_vtep(lab: api.Lab) -> None:
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "hv4")
    assert code == 0, output
    run = validate()  # right after the move: the product's own wait covers convergence
    assert run.passed, [(c.host, c.check, c.actual) for c in run.failed]
    # 4 leaves x 4 VMs x (place, DAD, forwarding judged across the leaves), and the sequence where each is local
    assert sum(c.kind == "mobile" for c in run.checks) == 4 * 4 * 3 + 4
    assert places(run, "vm2") == {"leaf1": "behind 10.0.4.14 (leaf4)", "leaf2": "behind 10.0.4.14 (leaf4)",
                                  "leaf3": "behind 10.0.4.14 (leaf4)", "leaf4": places(run, "vm2")["leaf4"]}
    assert places(run, "vm2")["leaf4"].startswith("local on eth3")
    # fault: leaf1's VXLAN device forwards vm2 to its old place (leaf2) although EVPN says leaf4
    lab.exec_in("leaf1", "bridge fdb replace 02:00:00:40:00:02 dev vxlan40010 dst 10.0.4.12 self static")
    stale = validate(wait=8.0)
    failed = {(c.host, c.check): c.actual for c in stale.failed}
    assert failed[("leaf1", "mobile vm2 (vni 40010) place")] == (
        "stale: FDB forwards behind 10.0.4.12 (leaf2), EVPN has it behind 10.0.4.14 (leaf4)")
    assert failed[("leaf1", "mobile vm2 (vni 40010) forwarding")] == (
        "stale: forwards behind 10.0.4.12 (leaf2), which no longer has it; it is now at leaf4")
    assert {host for host, _ in failed} <= {"leaf1", "leaf2", "leaf3", "leaf4"}
    assert all("vm2" in check for _, check in failed), failed
    # repair: the stale entry goes, the VM moves home and announces itself again
    lab.exec_in("leaf1", "bridge fdb del 02:00:00:40:00:02 dev vxlan40010 dst 10.0.4.12 self")
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "hv2")
    assert code == 0, output
    repaired = validate()
    assert repaired.passed, [(c.host, c.check, c.actual) for c in repaired.failed]


def test_move_refuses_what_cannot_be_done(lab: api.Lab) -> None:
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "spine1")
    assert code == 1 and "spine1 has no bridge br-web" in output, output
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "hv2")
    assert code == 1 and "already runs on hv2" in output, output
    assert lab.wait_reachable("vm2", "10.40.10.3", 30) >= 0  # positive control: vm2 untouched and reachable


def test_down_removes_everything_with_the_delay_lines(lab: api.Lab) -> None:
    before = footprint(lab)
    assert any("delayline" in key for node in lab.nodes.values() for key in node.pids)
    assert api.down(TOPOLOGY) == []
    assert_gone(before)
