#!/usr/bin/python
"""Ansible module: render one host's vxauto configuration."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: render
short_description: Render a host's VXLAN configuration from the vxauto intent
description:
  - Loads and validates the vxauto inventory, renders the configuration of one host and writes it under
    O(out) as C(<host>.<ext>) or C(<host>/<file>), exactly like C(vxauto render).
  - C(changed) is true only when a file's content differs from what is already on disk.
version_added: "0.1.0"
author:
  - vxauto developers (!UNKNOWN)
options:
  host:
    description: Inventory host to render.
    type: str
    required: true
  inventory:
    description: vxauto inventory directory.
    type: path
    default: inventory
  out:
    description: Directory for the rendered files.
    type: path
    required: true
attributes:
  check_mode:
    description:
      - Check mode renders and compares but writes no file.
      - C(changed) and RV(changed_files) say what would change.
    support: full
  diff_mode:
    description: Returns a diff of every file whose content would change.
    support: full
"""

EXAMPLES = r"""
- name: Render the host's configuration
  vxauto.fabric.render:
    host: "{{ inventory_hostname }}"
    out: out/configs
"""

RETURN = r"""
files:
  description: Paths of the files this host's configuration consists of.
  returned: success
  type: list
  elements: str
changed_files:
  description: The subset of RV(files) whose content changed (or would change in check mode).
  returned: success
  type: list
  elements: str
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vxauto.fabric.plugins.module_utils.vxauto_common import (
    VxautoError,
    fail_on_bad_input,
    require_vxauto,
)


def planned_files(rendered, out: Path) -> dict[Path, str]:
    if rendered.single:
        ((name, text),) = rendered.files.items()
        return {out / f"{rendered.host}{Path(name).suffix}": text}
    return {out / rendered.host / name: text for name, text in rendered.files.items()}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "required": True},
            "inventory": {"type": "path", "default": "inventory"},
            "out": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    require_vxauto(module)
    from vxauto.model import load_fabric
    from vxauto.render import render_device

    try:
        fabric = load_fabric(module.params["inventory"])
        if module.params["host"] not in fabric.hosts:
            module.fail_json(msg=f"host {module.params['host']!r} is not in the vxauto inventory")
        rendered = render_device(fabric.device(module.params["host"]))
    except VxautoError as error:
        fail_on_bad_input(module, error)
        return
    files = planned_files(rendered, Path(module.params["out"]))
    changed_files, diffs = [], []
    for path, text in files.items():
        before = path.read_text(encoding="utf-8") if path.exists() else ""
        if before != text:
            changed_files.append(str(path))
            diffs.append({"before": before, "after": text, "before_header": str(path), "after_header": str(path)})
            if not module.check_mode:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    result = {"changed": bool(changed_files), "files": [str(p) for p in files], "changed_files": changed_files}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
