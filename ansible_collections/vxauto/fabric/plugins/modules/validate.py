#!/usr/bin/python
"""Ansible module: validate the fabric against the vxauto intent."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate
short_description: Check VNIs, VTEPs, EVPN, MACs and the data plane against the vxauto intent
description:
  - Runs C(vxauto validate) for the selected hosts (all by default) and returns every check.
  - Fails when any check fails, listing the failed ones. Never changes anything (C(changed) is always false).
  - In check mode it connects to nothing and returns RV(would_check), what it would check on which host,
    derived from the intent alone; so a lab that is not configured yet does not fail a C(--check) run.
version_added: "0.1.0"
author:
  - vxauto developers (!UNKNOWN)
options:
  inventory:
    description: vxauto inventory directory.
    type: path
    default: inventory
  hosts:
    description: Hosts to validate (names); all when empty.
    type: list
    elements: str
    default: []
  lab:
    description: Running lab topology to take SSH keys and known_hosts from.
    type: path
  wait:
    description:
      - Seconds to wait for the fabric to converge. Failing checks are read and probed again until all pass or
        this deadline passes; 0 takes one snapshot.
    type: float
    default: 60
attributes:
  check_mode:
    description:
      - Check mode reports the checks it would run on each host instead of running them.
      - It does not connect to any device or host.
    support: full
  diff_mode:
    description: Validation changes nothing, so there is nothing to diff.
    support: none
"""

EXAMPLES = r"""
- name: Validate the whole fabric
  vxauto.fabric.validate:
    lab: containerlab/evpn-frr.clab.yml
  run_once: true
"""

RETURN = r"""
passed:
  description: True when every check passed.
  returned: when not in check mode
  type: bool
checks:
  description: Every check with host, check, expected, actual and passed.
  returned: when not in check mode
  type: list
  elements: dict
would_check:
  description: What validation would check, one item per host and check with the expected value.
  returned: in check mode
  type: list
  elements: dict
  sample:
    - {host: leaf1, check: vni-mapping, expected: "VNI 10010 on VLAN 10"}
    - {host: h1, check: ping, expected: "h1 eth1 10.10.10.1 reaches h2 eth1 10.10.10.2"}
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vxauto.fabric.plugins.module_utils.vxauto_common import (
    VxautoError,
    fail_on_bad_input,
    require_vxauto,
)


def would_check(state) -> list[dict[str, str]]:
    """The checks a validation would run, from the intent alone (check mode connects to nothing)."""
    planned: list[dict[str, str]] = []

    def add(host: str, check: str, expected: str) -> None:
        planned.append({"host": host, "check": check, "expected": expected})

    for name, device in state.devices.items():
        if device.vtep_ip:
            add(name, "vtep-address", f"VTEP {device.vtep_ip}")
        for vni in device.vnis.values():
            where = f"VLAN {vni.vlan}" if vni.vlan is not None else vni.type
            add(name, "vni-mapping", f"VNI {vni.vni} on {where}")
            add(name, "flood-list", f"VNI {vni.vni} floods to {', '.join(vni.remote_vteps) or 'no remote VTEP'}"
                f" ({vni.learning})")
        for session in device.sessions:
            families = "IPv4 unicast and L2VPN EVPN" if session.evpn else "IPv4 unicast"
            add(name, "bgp-session", f"{session.peer} {session.ip} AS{session.remote_as} up ({families})")
        for interface in device.underlay:
            add(name, "underlay-mtu", f"{interface.name} toward {interface.peer} MTU >= {interface.mtu}")
    for probe in state.probes:
        verb = {"ping": "reaches", "mtu": f"reaches with {probe.size}-byte DF pings",
                "isolation": "does not reach"}[probe.kind]
        add(probe.source.node, probe.kind, f"{probe.source.label} {verb} {probe.target.label}")
    return planned


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "inventory": {"type": "path", "default": "inventory"},
            "hosts": {"type": "list", "elements": "str", "default": []},
            "lab": {"type": "path"},
            "wait": {"type": "float", "default": 60.0},
        },
        supports_check_mode=True,
    )
    require_vxauto(module)
    from vxauto.model import load_fabric
    from vxauto.model.select import select_hosts
    from vxauto.validate.report import report_json, run_facts
    from vxauto.validate.run import validate_fabric

    params = module.params
    try:
        fabric = load_fabric(params["inventory"])
        selected = select_hosts(fabric, hosts=params["hosts"] or None)
        if module.check_mode:
            from vxauto.validate.expected import expected_state

            planned = would_check(expected_state(fabric, selected))
            module.exit_json(changed=False, would_check=planned,
                             msg=f"check mode: would run {len(planned)} checks on "
                                 f"{len({item['host'] for item in planned})} hosts")
        run = validate_fabric(fabric, selected, Path(params["lab"]) if params["lab"] else None,
                              wait=params["wait"])
    except VxautoError as error:
        fail_on_bad_input(module, error)
        return
    report = report_json(run.checks, run_facts(run))
    if not run.passed:
        failed = [f"{c['host']}: {c['check']} (expected {c['expected']}, got {c['actual']})"
                  for c in report["checks"] if not c["passed"]]
        module.fail_json(msg=f"{len(failed)} of {len(report['checks'])} checks failed: " + "; ".join(failed[:20]),
                         changed=False, **report)
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
