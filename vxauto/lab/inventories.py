"""The inventory files containerlab writes into its lab directory, in containerlab's own layout.

containerlab renders `nornir-simple-inventory.yml` and `ansible-inventory.yml` from Go templates
(core/assets/inventory_*.go.tpl): nodes grouped by kind, sorted by name, Nornir keyed by the short node
name, Ansible by the long container name with `ansible_host` set to the management address, extra groups
from the `nornir-group*` / `ansible-group` labels. The netns runtime writes the same files so tooling
pointed at a containerlab lab directory works unchanged. What containerlab leaves to the image (a user
and password) is a generated key here, so both files also carry the key and the lab's known_hosts:
Nornir as `connection_options` (netmiko and napalm), Ansible as `all.vars`. Ansible also gets the Python
to run modules with: nodes share this machine's file system, and left to discover one, Ansible can pick a
`python3.X` from the login PATH that does not run (a pyenv shim of another version, for example).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from vxauto.lab.sshkeys import LOGIN_USER


@dataclass(frozen=True)
class InventoryNode:
    short_name: str
    long_name: str
    kind: str
    mgmt_ipv4: str
    labels: dict[str, str]


def _q(value: str) -> str:
    """A YAML scalar: JSON strings are valid YAML and quote anything unusual."""
    return json.dumps(value)


def _by_kind(nodes: list[InventoryNode]) -> dict[str, list[InventoryNode]]:
    grouped: dict[str, list[InventoryNode]] = defaultdict(list)
    for node in nodes:
        grouped[node.kind].append(node)
    return {kind: sorted(grouped[kind], key=lambda n: n.short_name) for kind in sorted(grouped)}


def nornir_simple_inventory(nodes: list[InventoryNode], key_file: Path, known_hosts: Path) -> str:
    lines = ["---"]
    for kind, members in _by_kind(nodes).items():
        for node in members:
            lines += [
                f"{node.short_name}:",
                f"    username: {LOGIN_USER}",
                "    password:",
                f"    platform: {kind}",
                f"    hostname: {node.mgmt_ipv4}",
            ]
            groups = sorted(value for key, value in node.labels.items() if key.startswith("nornir-group"))
            if groups:
                lines.append("    groups:")
                lines += [f"      - {group}" for group in groups]
            lines += _nornir_connection_options(key_file, known_hosts)
    return "\n".join(lines) + "\n"


def _nornir_connection_options(key_file: Path, known_hosts: Path) -> list[str]:
    """Key login with host keys checked against the lab's known_hosts (never the user's)."""
    return [
        "    connection_options:",
        "      netmiko:",
        "        extras:",
        "          use_keys: true",
        f"          key_file: {_q(str(key_file))}",
        "          allow_agent: false",
        "          ssh_strict: true",
        "          system_host_keys: false",
        "          alt_host_keys: true",
        f"          alt_key_file: {_q(str(known_hosts))}",
        "      napalm:",
        "        extras:",
        "          optional_args:",
        f"            key_file: {_q(str(key_file))}",
        f"            known_hosts: {_q(str(known_hosts))}",
    ]


def ansible_inventory(
    nodes: list[InventoryNode], key_file: Path, known_hosts: Path, interpreter: str = sys.executable
) -> str:
    """`interpreter` runs Ansible's modules on the nodes: by default the Python running vxauto, which every
    node has (they share this machine's file system)."""
    lines = [
        "all:",
        "  vars:",
        "    # The generated inventory is assumed to be used from the clab host.",
        "    # Hence no http proxy should be used. Therefore we make sure the http",
        "    # module does not attempt using any global http proxy.",
        "    ansible_httpapi_use_proxy: false",
        f"    ansible_user: {LOGIN_USER}",
        f"    ansible_python_interpreter: {_q(interpreter)}",
        f"    ansible_ssh_private_key_file: {_q(str(key_file))}",
        "    # host keys are checked against the lab's own known_hosts",
        "    ansible_ssh_common_args: "
        + _q(f"-o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null "
             "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"),
        "  children:",
    ]
    for kind, members in _by_kind(nodes).items():
        lines += [f"    {kind}:", "      hosts:"]
        lines += _ansible_hosts(members)
    groups: dict[str, list[InventoryNode]] = defaultdict(list)
    for node in nodes:
        if node.labels.get("ansible-group"):
            groups[node.labels["ansible-group"]].append(node)
    for name in sorted(groups):
        lines += [f"    {name}:", "      hosts:"]
        lines += _ansible_hosts(sorted(groups[name], key=lambda n: n.short_name))
    return "\n".join(lines) + "\n"


def _ansible_hosts(members: list[InventoryNode]) -> list[str]:
    lines = []
    for node in members:
        if node.labels.get("ansible-no-host-var") == "true":
            lines.append(f"        {node.long_name}:")
        else:
            lines += [f"        {node.long_name}:", f"          ansible_host: {node.mgmt_ipv4}"]
    return lines
