"""The target kernel state derived from the facts (model/kernel_state.py) is exactly what the rendered kernel
script means: for every deployable Linux/FRR host of every intent in the repository, the state the renderer
carries equals the state the FRR driver reads from the script (`parse_script`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxauto.devices.napalm_frr.kernel_sync import KernelState, parse_script
from vxauto.model import load_fabric
from vxauto.render.engine import render_fabric

REPO = Path(__file__).resolve().parents[2]
INTENTS = sorted(
    {p.parent for p in (REPO / "tests" / "fixtures").rglob("hosts.yaml")}
    | {p.parent for p in (REPO / "containerlab").glob("*/inventory/hosts.yaml")}
    | {REPO / "inventory"}
)


def _script_state(files: dict[str, str], host: str) -> KernelState:
    state = KernelState()
    for name in sorted(files):
        if name.endswith(".sh"):
            parse_script(files[name], f"{host}:{name}", state)
    return state


@pytest.mark.parametrize("intent", INTENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_derived_state_is_what_the_script_means(intent: Path) -> None:
    compared = 0
    for rendered in render_fabric(load_fabric(intent)):
        scripts = [name for name in rendered.files if name.endswith(".sh")]
        if rendered.platform not in ("frr", "linux") or not scripts:
            assert rendered.kernel_state is None or rendered.platform in ("frr", "linux")
            continue
        assert rendered.kernel_state is not None, rendered.host
        from_script = _script_state(rendered.files, rendered.host)
        assert rendered.kernel_state.lines() == from_script.lines(), rendered.host
        assert rendered.kernel_state.managed_addresses() == from_script.managed_addresses(), rendered.host
        compared += 1
    if any(h.platform in ("frr", "linux") for h in load_fabric(intent).hosts.values()):
        assert compared, "an intent with Linux/FRR hosts compared none"


def test_a_changed_fact_changes_the_state_and_the_comparison_sees_it(demo_inventory: Path) -> None:
    # Positive control for the equality above: a script edited by one MTU no longer matches the state.
    (rendered,) = render_fabric(load_fabric(demo_inventory), ["leaf1"])
    assert rendered.kernel_state is not None
    edited = dict(rendered.files)
    edited["interfaces.sh"] = edited["interfaces.sh"].replace("mtu 9100 up", "mtu 9000 up", 1)
    assert _script_state(edited, "leaf1").lines() != rendered.kernel_state.lines()
    assert "link eth1 mtu=9100 state=up" in rendered.kernel_state.lines()


def test_a_master_keeps_its_case_and_a_mac_does_not_matter() -> None:
    # A VRF named RED is the master `RED`: the kernel's link names are case-sensitive (ip -j reports `RED`).
    state = parse_script("ip link set dev br10 master RED address 00:1C:73:00:00:01 up\n", "x.sh")
    assert state.lines() == ["link br10 master=RED address=00:1c:73:00:00:01 state=up"]


def test_the_bundle_carries_the_derived_state_and_the_driver_reads_no_script(demo_inventory: Path) -> None:
    from vxauto.devices.napalm_frr.bundle import Bundle

    (rendered,) = render_fabric(load_fabric(demo_inventory), ["leaf1"])
    assert rendered.kernel_state is not None
    travelled = Bundle.loads(Bundle.from_rendered(rendered).dumps(), "config")
    assert travelled.files == rendered.files
    assert travelled.kernel().lines() == rendered.kernel_state.lines()
    assert travelled.kernel().managed_addresses() == rendered.kernel_state.managed_addresses()
    # With the target present the script is not read: a script the reader refuses changes nothing ...
    broken = dict(rendered.files, **{"interfaces.sh": "reboot\n"})
    assert Bundle(broken, "x", rendered.kernel_state).kernel().lines() == rendered.kernel_state.lines()
    # ... while without it (a directory loaded by hand) the same script is read, and refused.
    from vxauto.errors import VxautoError

    with pytest.raises(VxautoError, match="cannot model"):
        Bundle(broken, "x").kernel()
