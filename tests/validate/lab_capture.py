"""Capture real outputs of the demo fabric on the netns lab, healthy and with each fault of faults.py.

    /work/venv/bin/python -m tests.validate.lab_capture --out tests/fixtures/frr/lab-capture

Brings the evpn-frr lab up with rendered configs (waiting while anybody else's evpn-frr lab is up), and
per scenario (`healthy`, then every fault in tests/validate/faults.py, injected one at a time):
runs `vxauto validate` once (its pings are the traffic that makes the leaves learn the host MACs),
then saves

- `<scenario>/<node>/<command>.json`: the raw output of every command the Linux/FRR NAPALM driver
  runs for the getters validate uses, on every router, and `ip -j link show` on every host;
- `<scenario>/getters/<node>.json`: what the driver itself answered, live, right after;
- `<scenario>/validate.json`: the report of that validate run;
- `inventory/`: the inventory the lab ran (the tests judge the recordings against this one).

The lab goes down at the end, also on failure. Nothing is edited after capture.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.validate.faults import FAULT_WAIT_S, FAULTS, DemoLab, demo_lab, validate
from vxauto.devices.registry import driver_class
from vxauto.model import load_fabric
from vxauto.validate import checks
from vxauto.validate.convergence import call_getter
from vxauto.validate.expected import expected_state
from vxauto.validate.report import report_json
from vxauto.validate.sessions import lab_access

#: file name -> command, as the driver runs them (vxauto/devices/napalm_frr/driver.py).
ROUTER_COMMANDS = {
    "ip_-j_-d_link_show": "ip -j -d link show",
    "ip_-j_-d_link_show_type_vxlan": "ip -j -d link show type vxlan",
    "ip_-j_addr_show": "ip -j addr show",
    "bridge_-j_fdb_show": "bridge -j fdb show",
    "show_evpn_vni_detail_json": "vtysh -c 'show evpn vni detail json'",
    "show_bgp_vrf_all_summary_json": "vtysh -c 'show bgp vrf all summary json'",
    "show_bgp_vrf_all_neighbors_json": "vtysh -c 'show bgp vrf all neighbors json'",
    "show_bgp_l2vpn_evpn_route_type_multicast_json": "vtysh -c 'show bgp l2vpn evpn route type multicast json'",
}
HOST_COMMANDS = {"ip_-j_link_show": "ip -j link show"}
GETTERS = (checks.GET_VNIS, checks.GET_VTEPS, checks.GET_BGP, checks.GET_INTERFACES, checks.GET_INTERFACES_IP,
           checks.GET_MACS)


def capture_raw(demo: DemoLab, out: Path) -> None:
    for node, state in demo.lab.nodes.items():
        commands = ROUTER_COMMANDS if state.role == "frr" else HOST_COMMANDS
        (out / node).mkdir(parents=True, exist_ok=True)
        for name, command in commands.items():
            result = demo.lab.exec_in(node, command)
            text = result.stdout if result.returncode == 0 else json.dumps(
                {"__error__": f"exit {result.returncode}: {(result.stderr or result.stdout).strip()}"})
            (out / node / f"{name}.json").write_text(text)


def capture_getters(demo: DemoLab, out: Path) -> None:
    fabric = load_fabric(demo.inventory)
    state = expected_state(fabric)
    access = lab_access(demo.topology, fabric, list(state.devices))
    (out / "getters").mkdir(parents=True, exist_ok=True)
    for name, device in state.devices.items():
        params = access.params_for(device)
        driver = driver_class(params.driver)(params.hostname, params.username, params.password,
                                             timeout=params.timeout, optional_args=dict(params.optional_args))
        driver.open()
        try:
            answers: dict[str, Any] = {}
            for getter in GETTERS:
                answer = call_getter(driver, getter, params.driver)
                answers[getter] = answer.value if answer.ok else {"__error__": answer.error}
        finally:
            driver.close()
        (out / "getters" / f"{name}.json").write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")


def scenario(demo: DemoLab, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    run = validate(demo, wait=FAULT_WAIT_S)
    (out / "validate.json").write_text(json.dumps(report_json(run.checks), indent=1) + "\n")
    capture_raw(demo, out)
    capture_getters(demo, out)


def versions(demo: DemoLab) -> dict[str, str]:
    def run(argv: list[str]) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()

    return {
        "frr": demo.lab.exec_in("leaf1", "vtysh -c 'show version'").stdout.strip().splitlines()[0],
        "iproute2": run(["ip", "-V"]),
        "kernel": platform.release(),
        "os": run(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "vlan_free": str(demo.vlan_free),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vx-capture-") as work, demo_lab(Path(work)) as demo:
        if not validate(demo).passed:
            raise SystemExit("the freshly deployed lab does not validate green; not capturing")
        scenario(demo, args.out / "healthy")
        for fault in FAULTS:
            fault.inject(demo)
            try:
                scenario(demo, args.out / fault.name)
            finally:
                fault.restore(demo)
            if not validate(demo).passed:
                raise SystemExit(f"not green after undoing {fault.name}")
        (args.out / "versions.json").write_text(json.dumps(versions(demo), indent=1) + "\n")
        shutil.copytree(demo.inventory, args.out / "inventory", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
