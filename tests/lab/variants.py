"""Derive an access-port variant of a fabric for kernels without 802.1Q VLAN support.

The demo fabric carries two segments per host on one 802.1Q trunk (leafN:eth3 <-> hN:eth1, eth1.10 and
eth1.20 on the host). A kernel built without CONFIG_VLAN_8021Q cannot create those VLAN interfaces, so the
lab tests there run the same fabric with every trunk split into untagged access links, one per segment:
the first segment keeps the original link, each further segment gets a new link on the next free
interfaces of both nodes. Everything else (underlay, BGP EVPN, VNIs, addresses) is unchanged, and the
configs are still rendered by vxauto from the derived inventory.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml


def vlan_free_variant(inventory: Path, topology: Path, destination: Path) -> tuple[Path, Path]:
    """Write `destination/inventory/` and `destination/<topology name>`; returns both paths."""
    inventory_out = destination / "inventory"
    shutil.copytree(inventory, inventory_out)
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    topo = yaml.safe_load(topology.read_text())
    links: list[dict] = topo["topology"]["links"]
    used: dict[str, set[str]] = {}
    for link in links:
        for end in link["endpoints"]:
            node, interface = end.split(":")
            used.setdefault(node, set()).add(interface)
    for link in list(links):
        _split_trunk(link, links, hosts, used)
    (inventory_out / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    topology_out = destination / topology.name
    topo["name"] = topo["name"]
    topology_out.write_text(yaml.safe_dump(topo, sort_keys=False))
    return inventory_out, topology_out


def _next_free(used: set[str]) -> str:
    numbers = [int(m.group(1)) for name in used if (m := re.fullmatch(r"eth(\d+)", name))]
    name = f"eth{max(numbers, default=0) + 1}"
    used.add(name)
    return name


def _split_trunk(link: dict, links: list[dict], hosts: dict, used: dict[str, set[str]]) -> None:
    ends = [end.split(":") for end in link["endpoints"]]
    for (leaf, leaf_if), (host, host_if) in (ends, ends[::-1]):
        ports = ((hosts.get(leaf) or {}).get("data") or {}).get("ports") or []
        port = next((p for p in ports if p.get("interface") == leaf_if and p.get("segments")), None)
        if port is None or host not in hosts:
            continue
        segments = port.pop("segments")
        port["segment"] = segments[0]
        host_interfaces = {segments[0]: host_if}
        for segment in segments[1:]:
            new_leaf_if, new_host_if = _next_free(used[leaf]), _next_free(used[host])
            ports.append({"interface": new_leaf_if, "segment": segment})
            links.append({"endpoints": [f"{host}:{new_host_if}", f"{leaf}:{new_leaf_if}"]})
            host_interfaces[segment] = new_host_if
        for endpoint in hosts[host].get("data", {}).get("endpoints") or []:
            if endpoint["segment"] in host_interfaces:
                endpoint["interface"] = host_interfaces[endpoint["segment"]]
        return
