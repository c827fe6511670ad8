"""Validate a fabric from Python: the one entry point the CLI, Ansible and tests share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vxauto.devices.access import napalm_driver
from vxauto.errors import VxautoError
from vxauto.model.fabric import Fabric
from vxauto.validate.convergence import DEFAULT_WAIT_S, ValidationRun, run_validation
from vxauto.validate.dataplane import LabShell
from vxauto.validate.expected import ExpectedState, expected_state
from vxauto.validate.sessions import inventory_access, lab_access
from vxauto.validate.traffic import traffic_checks, watch_vteps


def validate_fabric(
    fabric: Fabric,
    selected: Sequence[str] | None = None,
    lab: Path | None = None,
    workers: int = 8,
    wait: float = DEFAULT_WAIT_S,
    traffic: bool = False,
) -> ValidationRun:
    """Compare the selected hosts (all when None) with the intent, through the lab or the inventory's
    own connection data; raises `VxautoError` on bad input (unknown lab node, nothing to validate).

    Failing checks are evaluated again until all pass or `wait` seconds have passed (0: one snapshot).

    `traffic` (lab only) captures the VXLAN traffic every VTEP sends while the checks run and adds the
    anomalies `vxauto.monitor` finds in it as checks."""
    state = expected_state(fabric, selected)
    probe_nodes = {endpoint.node for probe in state.probes for endpoint in (probe.source, probe.target)}
    mac_nodes = {e.node for e in state.endpoints if any(e.vni in d.vnis for d in state.devices.values())}
    needed = sorted({*state.devices, *probe_nodes, *mac_nodes})
    if traffic and lab is None:
        raise VxautoError.single("command line", "--traffic", "needs --lab (it captures inside the lab's nodes)")
    access = lab_access(lab, fabric, needed) if lab is not None else inventory_access(fabric)
    try:
        def checks() -> ValidationRun:
            return run_validation(fabric, selected, access.shell, access.params_for, workers=workers, wait=wait)

        if not traffic:
            return checks()
        # --traffic without --lab was refused above: the shell is the lab's, already attached
        assert isinstance(access.shell, LabShell)
        namespaces = {name: node.namespace for name, node in access.shell.lab.nodes.items()}
        watch = watch_vteps(fabric, namespaces, [n for n in state.devices if fabric.hosts[n].data.vtep])
        run = watch.run_while(checks)
        run.checks.extend(traffic_checks(watch.reports(), _talking_vteps(fabric, state)))
        return run
    finally:
        access.close()


def vxlan_facts(fabric: Fabric, host: str, lab: Path | None = None) -> dict[str, Any]:
    """The VXLAN getters of one VTEP or router (`get_vxlan_vnis`, `get_vxlan_vteps`), read live."""
    device = expected_state(fabric, [host]).devices.get(host)
    if device is None:
        raise VxautoError.single("hosts.yaml", host, "has no VXLAN state to read (it is an endpoint host)")
    access = lab_access(lab, fabric, [host]) if lab is not None else inventory_access(fabric)
    try:
        params = access.params_for(device)
        driver = napalm_driver(params)
        driver.open()
        try:
            return {"vnis": driver.get_vxlan_vnis(), "vteps": driver.get_vxlan_vteps()}
        finally:
            driver.close()
    finally:
        access.close()


def _talking_vteps(fabric: Fabric, state: ExpectedState) -> set[str]:
    """VTEPs with a port in a segment whose endpoints the probes made talk: they must have sent VXLAN."""
    probed = {p.source.vni for p in state.probes if p.kind == "ping"}
    return {name for name, device in state.devices.items()
            if fabric.hosts[name].data.vtep and any(v.ports and v.vni in probed for v in device.vnis.values())}
