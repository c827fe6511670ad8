#!/usr/bin/python
"""Ansible module: bring a containerlab topology up or down with vxauto's lab runtime."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab
short_description: Run a containerlab topology with vxauto (netns runtime when there is no Docker)
description:
  - C(state=present) brings the lab up. It is idempotent, an already running lab is left as it is.
  - C(state=absent) removes every namespace, link, process and file of the lab.
  - C(changed) is true only when the lab was created or removed.
version_added: "0.1.0"
author:
  - vxauto developers (!UNKNOWN)
options:
  topology:
    description: Path of the containerlab topology file.
    type: path
    required: true
  state:
    description: Whether the lab should run.
    type: str
    choices: [present, absent]
    default: present
  configs:
    description: Directory of configs rendered by vxauto to load at start (see C(vxauto lab up --configs)).
    type: path
attributes:
  check_mode:
    description:
      - Check mode reports whether the lab would be created or removed, and creates or removes nothing.
    support: full
  diff_mode:
    description: Bringing a lab up or down has no textual diff.
    support: none
"""

EXAMPLES = r"""
- name: Default demo lab up
  vxauto.fabric.lab:
    topology: containerlab/evpn-frr.clab.yml
"""

RETURN = r"""
lab_state:
  description: The lab's state after the task (running, degraded, down, ...).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vxauto.fabric.plugins.module_utils.vxauto_common import (
    VxautoError,
    fail_on_bad_input,
    require_vxauto,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "topology": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "configs": {"type": "path"},
        },
        supports_check_mode=True,
    )
    require_vxauto(module)
    from vxauto.lab import api
    from vxauto.lab.netns import LabError

    topology, wanted = module.params["topology"], module.params["state"]
    try:
        current = api.status(topology).state
        running = current != "down"
        if (wanted == "present") == running:
            module.exit_json(changed=False, lab_state=current)
        if module.check_mode:
            module.exit_json(changed=True, lab_state=current)
        if wanted == "present":
            api.up(topology, configs=module.params["configs"])
        else:
            leftovers = api.down(topology)
            if leftovers:
                module.fail_json(msg=f"lab removed with leftovers: {', '.join(leftovers)}", leftovers=leftovers)
        module.exit_json(changed=True, lab_state=api.status(topology).state)
    except LabError as error:
        module.fail_json(msg=str(error))
    except VxautoError as error:
        fail_on_bad_input(module, error)


if __name__ == "__main__":
    main()
