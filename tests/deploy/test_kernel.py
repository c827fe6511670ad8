"""The kernel half of the Linux/FRR driver's configuration model: rendered scripts, the running kernel
(captured from the lab, tests/fixtures/deploy), the canonical form, and the change planner."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import fixture_text
from vxauto.devices.napalm_frr.kernel_sync import (
    KernelState,
    PlanError,
    RunningKernel,
    RunningLink,
    merged,
    parse_script,
    parse_state,
    plan,
    running_view,
)
from vxauto.errors import VxautoError
from vxauto.model.fabric import load_fabric
from vxauto.render.engine import render_device

STATIC_INVENTORY = Path(__file__).resolve().parents[2] / "containerlab" / "static-linux" / "inventory"


def rendered_kernel(inventory: Path, host: str) -> KernelState:
    rendered = render_device(load_fabric(inventory).device(host))
    state = KernelState()
    for name, text in rendered.files.items():
        if name.endswith(".sh"):
            parse_script(text, name, state)
    return state


def captured(node: str) -> RunningKernel:
    return RunningKernel.from_json(
        json.loads(fixture_text(node, "ip_-j_-d_link_show")),
        json.loads(fixture_text(node, "ip_-j_addr_show")),
        json.loads(fixture_text(node, "bridge_-j_fdb_show")),
    )


def diff(view: KernelState, target: KernelState) -> list[str]:
    return [line for line in difflib.unified_diff(view.lines(), target.lines(), lineterm="", n=0)
            if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))]


def edit_intent(inventory: Path, change: dict) -> None:
    """Apply {segment name: {field: value}} to fabric.yaml."""
    path = inventory / "fabric.yaml"
    data = yaml.safe_load(path.read_text())
    for segment in data["segments"]:
        segment.update(change.get(segment["name"], {}))
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# --------------------------------------------------------------------------- rendered scripts


def test_leaf_script_reads_as_the_template_means_it(demo_inventory: Path) -> None:
    state = rendered_kernel(demo_inventory, "leaf1")
    assert state.lines() == [
        "link br10010 kind=bridge mtu=1500 state=up",
        "link br10020 kind=bridge mtu=1500 state=up",
        "link br10030 kind=bridge mtu=1500 state=up",
        "link vxlan10010 kind=vxlan id=10010 local=10.0.0.11 dstport=4789 learning=off master=br10010 mtu=1500 "
        "port-learning=off state=up",
        "link vxlan10020 kind=vxlan id=10020 local=10.0.0.11 dstport=4789 learning=off master=br10020 mtu=1500 "
        "port-learning=off state=up",
        "link vxlan10030 kind=vxlan id=10030 local=10.0.0.11 dstport=4789 learning=off master=br10030 mtu=1500 "
        "port-learning=off state=up",
        "link eth1 mtu=9100 state=up",
        "link eth2 mtu=9100 state=up",
        "link eth3 master=br10010 mtu=1500 state=up",
        "link eth4 master=br10020 mtu=1500 state=up",
        "link lo state=up",
        "address eth1 10.1.1.1/31",
        "address eth2 10.2.1.1/31",
        "address lo 10.0.0.11/32",
    ]


def test_static_flooding_script_gives_learning_vxlan_and_flood_lists() -> None:
    state = rendered_kernel(STATIC_INVENTORY, "hv1")
    assert state.links["vxlan30010"].options == {"id": "30010", "local": "10.0.1.11", "dstport": "4789",
                                                 "learning": "on"}
    assert state.flood == {"vxlan30010": {"10.0.1.12", "10.0.1.13"}, "vxlan30020": {"10.0.1.13"}}


def test_every_deployable_demo_and_static_host_script_parses(demo_inventory: Path) -> None:
    for inventory in (demo_inventory, STATIC_INVENTORY):
        fabric = load_fabric(inventory)
        for name in fabric.hosts:
            state = rendered_kernel(inventory, name)
            assert state.lines(), name


@pytest.mark.parametrize(("line", "message"), [
    ("ip route add 10.9.0.0/16 via 10.1.1.0", "command the frr driver cannot model"),
    ("ensure_link dummy0 type dummy", "link type 'dummy'"),
    ("ip link set dev eth1 promisc on", "only mtu, master, address, up/down"),
    ("ensure_link vxlan9 type vxlan id 9 group 239.1.1.1", "vxlan option 'group' is not modelled"),
    ("ip addr replace 10.0.0.1 dev lo", None),  # a bare address is a /32: accepted
    ("ip addr replace 10.0.0.300/32 dev lo", "not an address with prefix length"),
])
def test_commands_outside_the_vocabulary_are_refused_with_their_line(line: str, message: str | None) -> None:
    script = f"#!/bin/sh\nset -eu\n\n{line}\n"
    if message is None:
        parse_script(script, "x.sh")
        return
    with pytest.raises(VxautoError) as caught:
        parse_script(script, "x.sh")
    (problem,) = caught.value.problems
    assert (problem.file, problem.path) == ("x.sh", "line 4")
    assert message in problem.message
    assert problem.value == line


def test_canonical_text_reads_back_to_the_same_state(demo_inventory: Path) -> None:
    for host in ("leaf1", "h1"):
        state = rendered_kernel(demo_inventory, host)
        again = parse_state(state.text(), "kernel.state")
        assert again.lines() == state.lines()


def test_canonical_text_errors_name_line_and_value() -> None:
    with pytest.raises(VxautoError) as caught:
        parse_state("link br10 kind=bridge\nlink vx0 kind=gre\n", "backup.json:kernel.state")
    (problem,) = caught.value.problems
    assert (problem.path, problem.value) == ("line 2", "gre")


# --------------------------------------------------------------------------- running kernel vs intent


def test_captured_leaf_matches_its_rendered_intent(demo_inventory: Path) -> None:
    """leaf1 as deployed (captured from the lab) against the same intent: no diff, no command."""
    candidate = rendered_kernel(demo_inventory, "leaf1")
    view = running_view(captured("leaf1"), candidate)
    assert diff(view, candidate) == []
    assert plan(view, candidate) == []


def test_captured_host_matches_its_rendered_intent(demo_inventory: Path) -> None:
    candidate = rendered_kernel(demo_inventory, "h1")
    view = running_view(captured("h1"), candidate)
    assert (diff(view, candidate), plan(view, candidate)) == ([], [])


def test_a_segment_leaving_a_leaf_deletes_exactly_its_devices(demo_inventory: Path) -> None:
    edit_intent(demo_inventory, {"blue-web": {"attach": {"hosts": ["leaf3", "leaf4"]}}})
    candidate = rendered_kernel(demo_inventory, "leaf1")
    view = running_view(captured("leaf1"), candidate)
    assert plan(view, candidate) == ["ip link del dev vxlan10030", "ip link del dev br10030"]
    removed = diff(view, candidate)
    assert [line.split()[1] for line in removed] == ["br10030", "vxlan10030"]
    assert all(line.startswith("-") for line in removed)


def test_merge_removes_nothing_the_intent_lost(demo_inventory: Path) -> None:
    edit_intent(demo_inventory, {"blue-web": {"attach": {"hosts": ["leaf3", "leaf4"]}}})
    candidate = rendered_kernel(demo_inventory, "leaf1")
    view = running_view(captured("leaf1"), candidate)
    target = merged(view, candidate)
    assert (diff(view, target), plan(view, target)) == ([], [])


def test_a_new_vni_for_a_segment_recreates_its_devices_and_moves_the_port(demo_inventory: Path) -> None:
    edit_intent(demo_inventory, {"red-web": {"vni": 10011}})
    candidate = rendered_kernel(demo_inventory, "leaf1")
    view = running_view(captured("leaf1"), candidate)
    assert plan(view, candidate) == [
        "ip link del dev vxlan10010",
        "ip link del dev br10010",
        "ip link add br10011 type bridge",
        "ip link add vxlan10011 type vxlan id 10011 local 10.0.0.11 dstport 4789 nolearning",
        "ip link set dev br10011 mtu 1500 up",
        "ip link set dev vxlan10011 mtu 1500 master br10011 up",
        "ip link set dev eth3 master br10011",
        "bridge link set dev vxlan10011 learning off",
    ]


def test_an_address_change_on_a_port_replaces_the_old_address(demo_inventory: Path) -> None:
    hosts = demo_inventory / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("10.10.10.1/24", "10.10.10.101/24"))
    candidate = rendered_kernel(demo_inventory, "h1")
    view = running_view(captured("h1"), candidate)
    assert plan(view, candidate) == ["ip addr del 10.10.10.1/24 dev eth1", "ip addr add 10.10.10.101/24 dev eth1"]


def test_static_flood_list_changes_are_planned_per_entry() -> None:
    wanted = parse_state("link vxlan5 kind=vxlan id=5 learning=on\nflood vxlan5 10.0.0.2\nflood vxlan5 10.0.0.4\n", "t")
    have = parse_state("link vxlan5 kind=vxlan id=5 learning=on\nflood vxlan5 10.0.0.2\nflood vxlan5 10.0.0.3\n", "t")
    assert plan(have, wanted) == [
        "bridge fdb del 00:00:00:00:00:00 dev vxlan5 dst 10.0.0.3",
        "bridge fdb append 00:00:00:00:00:00 dev vxlan5 dst 10.0.0.4",
    ]


# --------------------------------------------------------------------------- ownership, backups


def _link(name: str, kind: str | None, master: str | None = None, **options: str) -> RunningLink:
    return RunningLink(name, kind, dict(options), master, 1500, None, True, None, set(), set())


def test_only_vxauto_named_and_remembered_devices_are_owned() -> None:
    running = RunningKernel({link.name: link for link in [
        _link("br0", "bridge"),  # a hypervisor's own bridge
        _link("flannel.1", "vxlan", id="1"),  # another tool's VXLAN
        _link("vxlan7", "vxlan", id="8"),  # name and VNI disagree: not vxauto's naming
        _link("vxlan5", "vxlan", "br5", id="5"),
        _link("br5", "bridge"),
        _link("eth3.10", "vlan", "br5", id="10", link="eth3"),
        _link("eth3.20", "vlan", "br0", id="20", link="eth3"),
        _link("red", "vrf", table="1001"),
        _link("mgmt", "vrf", table="10"),
    ]})
    assert running.owned() == {"vxlan5", "br5", "eth3.10"}
    assert running.owned(manifest=["red"]) == {"vxlan5", "br5", "eth3.10", "red"}


def test_a_device_vxauto_did_not_create_is_never_replaced() -> None:
    running = RunningKernel({"vxlan9": _link("vxlan9", "veth")})
    candidate = parse_state("link vxlan9 kind=vxlan id=9 learning=off\n", "candidate")
    with pytest.raises(PlanError) as caught:
        plan(running_view(running, candidate), candidate, host="leaf9")
    assert "refusing to replace it" in str(caught.value)


def test_a_backup_holds_owned_devices_and_ports_but_not_the_management_link() -> None:
    view = running_view(captured("leaf1"), None, keep_out={"eth0"})
    lines = view.lines()
    assert not any(" eth0" in line for line in lines)
    assert "link eth1 mtu=9100 state=up" in lines and "address eth1 10.1.1.1/31" in lines
    assert any(line.startswith("link vxlan10030 kind=vxlan id=10030 ") for line in lines)
    # restoring a backup onto the state it was taken from changes nothing
    backup = parse_state(view.text(), "backup")
    assert plan(running_view(captured("leaf1"), backup, keep_out={"eth0"}), backup) == []


def test_restoring_a_pre_deploy_backup_takes_back_ports_and_removes_owned_devices() -> None:
    before = parse_state("link eth1 mtu=9500 state=up\nlink lo mtu=65536 state=up\n", "backup")
    view = running_view(captured("leaf1"), before)
    commands = plan(view, before)
    assert "ip link set dev eth1 mtu 9500" in commands
    assert "ip addr del 10.1.1.1/31 dev eth1" in commands
    assert "ip addr del 10.0.0.11/32 dev lo" in commands
    assert {c for c in commands if c.startswith("ip link del")} == {
        f"ip link del dev {prefix}{vni}" for prefix in ("vxlan", "br") for vni in (10010, 10020, 10030)}
    assert "ip link set dev eth3 nomaster" not in commands  # its bridge goes: the kernel releases it
