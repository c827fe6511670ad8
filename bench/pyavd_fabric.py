"""Render an EOS L3LS-EVPN fabric with pyavd, as the reference for bench/render.py.

Run by bench/render.py in the interpreter that has pyavd (the current one, or `--pyavd-python`):

    python bench/pyavd_fabric.py LEAVES VNIS   -> prints one JSON line {"total_s": ..., "bytes": ...}

The fabric matches vxauto's generated one: 2 spines, LEAVES leaves with one eBGP ASN each, VNIS L2
VLANs (VNI = 10000 + VLAN) in 4 tenants, every VLAN on every leaf, EVPN (AVD's default).
"""

from __future__ import annotations

import json
import sys
import time


def design(leaves: int, vnis: int) -> dict:
    vlans = list(range(2, 2 + vnis))
    tenants = [
        {
            "name": f"tenant{t + 1}",
            "mac_vrf_vni_base": 10000,
            "l2vlans": [{"id": vlan, "name": f"seg{i + 1}"} for i, vlan in enumerate(vlans) if i % 4 == t],
        }
        for t in range(4)
    ]
    spines = [{"name": f"spine{s + 1}", "id": s + 1, "mgmt_ip": f"172.31.0.{10 + s}/24"} for s in range(2)]
    leaf_nodes = [
        {
            "name": f"leaf{i + 1}",
            "id": i + 1,
            "bgp_as": str(65101 + i),
            "mgmt_ip": f"172.31.{1 + (i + 1) // 250}.{(i + 1) % 250}/16",
            "uplink_switch_interfaces": [f"Ethernet{i + 1}", f"Ethernet{i + 1}"],
        }
        for i in range(leaves)
    ]
    return {
        "fabric_name": "generated",
        "spine": {
            "defaults": {"platform": "vEOS-lab", "loopback_ipv4_pool": "10.255.0.0/24", "bgp_as": "65000"},
            "nodes": spines,
        },
        "l3leaf": {
            "defaults": {
                "platform": "vEOS-lab",
                "loopback_ipv4_pool": "10.254.0.0/16",
                "vtep_loopback_ipv4_pool": "10.253.0.0/16",
                "uplink_interfaces": ["Ethernet1", "Ethernet2"],
                "uplink_switches": ["spine1", "spine2"],
                "uplink_ipv4_pool": "10.0.0.0/16",
                "virtual_router_mac_address": "00:1c:73:00:00:01",
            },
            "node_groups": [{"group": f"g{n['id']}", "nodes": [n]} for n in leaf_nodes],
        },
        "tenants": tenants,
    }


def render(leaves: int, vnis: int) -> dict:
    import pyavd

    started = time.perf_counter()
    common = design(leaves, vnis)
    hosts = {f"spine{s + 1}": "spine" for s in range(2)} | {f"leaf{i + 1}": "l3leaf" for i in range(leaves)}
    all_inputs = {}
    for host, node_type in hosts.items():
        validated = pyavd.validate_inputs({**common, "type": node_type, "inventory_hostname": host})
        violations = validated.validation_result.violations
        if violations:
            details = [f"{v.path}: {v.message}" for v in violations[:3]]
            raise SystemExit(f"pyavd rejected the inputs for {host}: {details}")
        all_inputs[host] = validated.validated_data
    facts = pyavd.get_avd_facts(all_inputs)
    size = 0
    for host, inputs in all_inputs.items():
        structured = pyavd.get_device_structured_config(host, inputs, facts)
        size += len(pyavd.get_device_config(structured))
    return {"total_s": time.perf_counter() - started, "bytes": size, "hosts": len(hosts), "pyavd": pyavd.__version__}


if __name__ == "__main__":
    print(json.dumps(render(int(sys.argv[1]), int(sys.argv[2]))))
