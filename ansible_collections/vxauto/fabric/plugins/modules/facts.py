#!/usr/bin/python
"""Ansible module: VXLAN getter data of a device as facts."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: facts
short_description: Read a device's VXLAN state (vxauto's VXLAN getters) as Ansible facts
description:
  - Opens the device with its vxauto NAPALM driver and returns C(get_vxlan_vnis) and C(get_vxlan_vteps) under
    C(ansible_facts.vxauto_vxlan) (VNI keys become strings in JSON). Read-only.
version_added: "0.1.0"
author:
  - vxauto developers (!UNKNOWN)
options:
  host:
    description: Inventory host (a VTEP or router).
    type: str
    required: true
  inventory:
    description: vxauto inventory directory.
    type: path
    default: inventory
  lab:
    description: Running lab topology to take SSH keys and known_hosts from.
    type: path
attributes:
  check_mode:
    description: The module only reads the device, so check mode runs it unchanged.
    support: full
  diff_mode:
    description: Reading facts changes nothing, so there is nothing to diff.
    support: none
"""

EXAMPLES = r"""
- name: Read VXLAN state
  vxauto.fabric.facts:
    host: "{{ inventory_hostname }}"
- name: Show the VNIs
  ansible.builtin.debug:
    var: ansible_facts.vxauto_vxlan.vnis
"""

RETURN = r"""
ansible_facts:
  description: C(vxauto_vxlan) with C(vnis) (VNI -> VniInfo) and C(vteps) (remote VTEP -> VtepInfo).
  returned: success
  type: dict
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
        },
        supports_check_mode=True,
    )
    require_vxauto(module)
    from vxauto.model import load_fabric
    from vxauto.validate.run import vxlan_facts

    params = module.params
    try:
        fabric = load_fabric(params["inventory"])
        facts = vxlan_facts(fabric, params["host"], Path(params["lab"]) if params["lab"] else None)
    except Exception as error:  # bad input, or a device that cannot be reached or read
        # One handler: without vxauto, VxautoError is Exception itself (see module_utils.vxauto_common).
        if isinstance(error, VxautoError):
            fail_on_bad_input(module, error)
        module.fail_json(msg=f"cannot read VXLAN state of {params['host']}: {error}")
        return
    vnis = {str(vni): info for vni, info in facts["vnis"].items()}
    module.exit_json(changed=False, ansible_facts={"vxauto_vxlan": {"vnis": vnis, "vteps": facts["vteps"]}})


if __name__ == "__main__":
    main()
