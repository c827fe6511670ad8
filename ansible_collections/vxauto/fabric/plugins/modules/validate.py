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
version_added: "0.1.0"
author: vxauto developers
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
    support: full
  diff_mode:
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
  returned: always
  type: bool
checks:
  description: Every check with host, check, expected, actual and passed.
  returned: always
  type: list
  elements: dict
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vxauto.fabric.plugins.module_utils.vxauto_common import (
    VxautoError,
    fail_on_bad_input,
    require_vxauto,
)


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
