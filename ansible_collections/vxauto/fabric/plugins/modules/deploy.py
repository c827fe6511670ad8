#!/usr/bin/python
"""Ansible module: push a host's rendered configuration with vxauto's NAPALM deploy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy
short_description: Deploy a host's VXLAN configuration from the vxauto intent
description:
  - Renders the host, loads it as the NAPALM candidate (replace semantics for what vxauto owns, or merge),
    shows the diff and commits it, exactly like C(vxauto deploy --commit) for one host.
  - In check mode it is a dry run (C(vxauto deploy) without C(--commit)). The diff is reported and nothing
    on the device changes.
  - C(changed) is true only when the device's configuration differed from the intent.
version_added: "0.1.0"
author:
  - vxauto developers (!UNKNOWN)
options:
  host:
    description: Inventory host to deploy.
    type: str
    required: true
  inventory:
    description: vxauto inventory directory.
    type: path
    default: inventory
  lab:
    description: Running lab topology to take SSH keys, known_hosts and FRR pathspaces from.
    type: path
  replace:
    description: Replace what vxauto owns (remove VNIs the intent no longer has); false merges.
    type: bool
    default: true
  confirm_timeout:
    description: Commit-confirm; the device rolls back by itself unless the commit is confirmed in time.
    type: int
  backups:
    description: Directory for the running-config backups taken before each commit.
    type: path
    default: backups
attributes:
  check_mode:
    description:
      - Check mode is C(vxauto deploy) without C(--commit). The candidate is loaded, diffed and discarded.
    support: full
  diff_mode:
    description: Returns the device's candidate diff (what the commit changes).
    support: full
"""

EXAMPLES = r"""
- name: Deploy the host
  vxauto.fabric.deploy:
    host: "{{ inventory_hostname }}"
    lab: containerlab/evpn-frr.clab.yml
"""

RETURN = r"""
status:
  description: unchanged, would-change (check mode), changed or failed.
  returned: always
  type: str
backup:
  description: The backup file written before the commit.
  returned: when changed
  type: str
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
            "host": {"type": "str", "required": True},
            "inventory": {"type": "path", "default": "inventory"},
            "lab": {"type": "path"},
            "replace": {"type": "bool", "default": True},
            "confirm_timeout": {"type": "int"},
            "backups": {"type": "path", "default": "backups"},
        },
        supports_check_mode=True,
    )
    require_vxauto(module)
    from vxauto.deploy.run import DeployOptions, deploy
    from vxauto.model import load_fabric
    from vxauto.model.select import select_hosts

    params = module.params
    try:
        fabric = load_fabric(params["inventory"])
        hosts = select_hosts(fabric, hosts=[params["host"]])
        options = DeployOptions(
            commit=not module.check_mode, replace=params["replace"], confirm_timeout=params["confirm_timeout"],
            backups=Path(params["backups"]), workers=1, lab=Path(params["lab"]) if params["lab"] else None,
        )
        (outcome,) = deploy(fabric, hosts, options)
    except VxautoError as error:
        fail_on_bad_input(module, error)
        return
    result = {"changed": outcome.status in ("changed", "would-change"), "status": outcome.status,
              "backup": outcome.backup}
    if module._diff and outcome.diff:
        result["diff"] = {"prepared": outcome.diff}
    if outcome.status == "failed":
        module.fail_json(msg=f"deploy of {outcome.host} failed: {outcome.error}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
