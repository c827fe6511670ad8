"""The vendor topologies (cEOS, SR Linux, NX-OS, SONiC): valid inventories, rendered configs they load,
links that match the inventory, and a clear refusal from the netns runtime (they need Docker + images)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.lab.conftest import CONTAINERLAB, cli, render
from tests.lab.test_topology import assert_matches_inventory
from vxauto.lab.state import state_path
from vxauto.lab.topology import load_topology
from vxauto.model.fabric import load_fabric
from vxauto.render.engine import PLATFORM_OUTPUTS, templates_dir

# variant -> (platform, containerlab kind, vendor interface name -> topology interface name)
VARIANTS = {
    "ceos": ("eos", "arista_ceos", lambda name: re.sub(r"^Ethernet(\d+)$", r"eth\1", name)),
    "srl": ("srlinux", "nokia_srlinux", lambda name: re.sub(r"^ethernet-1/(\d+)$", r"e1-\1", name)),
    "nxos": ("nxos", "cisco_n9kv", lambda name: re.sub(r"^Ethernet1/(\d+)$", r"eth\1", name)),
    "sonic": ("sonic", "sonic-vs", lambda name: re.sub(r"^Ethernet(\d+)$", lambda m: f"eth{int(m[1]) // 4 + 1}",
                                                       name)),
}


def _template_missing(platform: str) -> str | None:
    inventory = CONTAINERLAB / next(v for v, spec in VARIANTS.items() if spec[0] == platform) / "inventory"
    device = next(d for d in load_fabric(inventory).devices.values() if d.platform == platform)
    for output in PLATFORM_OUTPUTS[platform](device):
        if output.template and not (templates_dir() / output.template).is_file():
            return f"template {output.template} is not written yet"
    return None


@pytest.fixture(params=list(VARIANTS))
def variant(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, Path]:
    """The variant's topology copied to tmp/containerlab/, its configs rendered into tmp/out/evpn-<variant>."""
    name = request.param
    missing = _template_missing(VARIANTS[name][0])
    if missing:
        pytest.skip(missing)
    (tmp_path / "containerlab").mkdir()
    topology = tmp_path / "containerlab" / f"evpn-{name}.clab.yml"
    shutil.copy(CONTAINERLAB / f"evpn-{name}.clab.yml", topology)
    render(CONTAINERLAB / name / "inventory", tmp_path / "out" / f"evpn-{name}")
    return name, topology, tmp_path / "out" / f"evpn-{name}"


def test_variant_inventory_is_valid_and_uses_vendor_names(variant: tuple[str, Path, Path]) -> None:
    name, _, _ = variant
    platform = VARIANTS[name][0]
    code, output = cli("check", "-i", str(CONTAINERLAB / name / "inventory"))
    assert code == 0, output
    fabric = load_fabric(CONTAINERLAB / name / "inventory")
    switches = [h for h in fabric.hosts.values() if h.data.role in ("leaf", "spine")]
    assert {h.platform for h in switches} == {platform}
    topology_style = re.compile(r"^eth\d+$")
    for host in switches:
        for link in host.data.underlay:
            assert not topology_style.match(link.interface), (host.name, link.interface)


def test_variant_topology_loads_rendered_configs(variant: tuple[str, Path, Path]) -> None:
    name, topology_file, out = variant
    _, kind, to_topology = VARIANTS[name]
    topology = load_topology(topology_file)
    assert topology.name == f"evpn-{name}"
    assert_matches_inventory(topology, CONTAINERLAB / name / "inventory", to_topology)
    fabric = load_fabric(CONTAINERLAB / name / "inventory")
    for node_name, node in topology.nodes.items():
        device = fabric.device(node_name)
        if device.role == "host":
            assert node.kind == "linux" and node.exec == ["sh /vxauto/endpoint.sh"]
            bind = node.bind_for("/vxauto/endpoint.sh")
            assert bind is not None and bind.source.resolve() == (out / f"{node_name}.sh").resolve()
            continue
        assert node.kind == kind
        # the rendered file is what the node boots with: startup-config, or a bind of config_db.json (SONiC)
        bind = node.bind_for("/etc/sonic/config_db.json")
        source = bind.source if bind else node.startup_config_file
        assert source is not None, node_name
        text = source.read_text()
        assert source.resolve().parent == out.resolve()
        assert node_name in text  # the device's own hostname is in its configuration
        for interface in device.interfaces:
            assert interface.name in text, (node_name, interface.name)


def test_netns_runtime_refuses_vendor_variants(variant: tuple[str, Path, Path]) -> None:
    name, topology_file, _ = variant
    code, output = cli("lab", "up", str(topology_file), "--runtime", "netns")
    assert code == 2, output
    assert f"kind {VARIANTS[name][1]} needs its vendor image" in output
    assert "Docker and containerlab" in output and "runs natively" in output
    assert not (topology_file.parent / f"clab-evpn-{name}").exists()
    assert not state_path(f"evpn-{name}").exists()
