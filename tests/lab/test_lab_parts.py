"""Parts of the netns runtime that need no root: keys, names, daemons, startup material."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from tests.lab.conftest import CONTAINERLAB, REPO, render
from vxauto.errors import VxautoError
from vxauto.lab.configs import daemons_for, default_frr_config, node_startups
from vxauto.lab.netns import IFNAMSIZ, node_argv, valid_ifname
from vxauto.lab.plan import bridge_name, link_group, mgmt_veth_name
from vxauto.lab.sshkeys import ensure_keypair, known_hosts_text
from vxauto.lab.topology import load_topology


def test_generated_keys_load_in_paramiko_and_persist(tmp_path: Path) -> None:
    pair = ensure_keypair(tmp_path / "id_ed25519", "vxauto-lab-test")
    key = paramiko.Ed25519Key.from_private_key_file(str(pair.private))
    assert pair.public_key() == f"ssh-ed25519 {key.get_base64()}"
    assert pair.private.stat().st_mode & 0o777 == 0o600
    assert ensure_keypair(tmp_path / "id_ed25519", "again").public_line() == pair.public_line()  # kept
    known = tmp_path / "known_hosts"
    known.write_text(known_hosts_text([(["172.20.39.21", "clab-x-leaf1", "leaf1"], pair.public_key())]))
    host_keys = paramiko.HostKeys(str(known))
    for name in ("172.20.39.21", "clab-x-leaf1", "leaf1"):
        assert host_keys.lookup(name)["ssh-ed25519"].get_base64() == key.get_base64()


@pytest.mark.parametrize("lab", ["evpn-frr", "static-linux", "vxb32", "a-very-long-lab-name-indeed"])
def test_names_fit_linux_interface_names(lab: str) -> None:
    for name in (bridge_name(lab), mgmt_veth_name(lab, "leaf1")):
        assert valid_ifname(name) and len(name) <= IFNAMSIZ
    assert bridge_name(lab) == bridge_name(lab) and mgmt_veth_name(lab, "a") != mgmt_veth_name(lab, "b")
    assert 0x10000000 <= link_group(lab) <= 0x1FFFFFFF


def test_daemons_follow_the_configuration() -> None:
    assert daemons_for(default_frr_config("r1")) == ("zebra", "staticd", "bgpd")
    config = "router ospf\n network 10.0.0.0/8 area 0\n!\nrouter bgp 1\n neighbor 10.0.0.1 bfd\n!\n"
    assert daemons_for(config) == ("zebra", "staticd", "bgpd", "ospfd", "bfdd")
    assert daemons_for("", "bgpd=yes\nisisd=yes\nldpd=no\nbogusd=yes\n") == ("zebra", "staticd", "bgpd", "isisd")


def test_node_argv_enters_the_node() -> None:
    host = node_argv("lab-h1", "h1", ["ping", "-c1", "10.0.0.1"], None)
    assert host[:6] == ["ip", "netns", "exec", "lab-h1", "unshare", "--uts"]
    assert host[-5:] == ["vxauto-node", "h1", "ping", "-c1", "10.0.0.1"]
    frr = node_argv("lab-r1", "r1", ["vtysh"], (Path("/lab/r1/frr"), Path("/run/frr/lab-r1")))
    assert "mount --bind" in frr[9] and frr[-4:] == ["r1", "/lab/r1/frr", "/run/frr/lab-r1", "vtysh"]


def test_startup_material_from_rendered_configs(tmp_path: Path) -> None:
    topology = load_topology(CONTAINERLAB / "evpn-frr.clab.yml")
    configs = render(REPO / "inventory", tmp_path / "configs")
    startups = node_startups(topology, configs)
    assert startups["leaf1"].frr_config == (configs / "leaf1" / "frr.conf").read_text()
    assert startups["leaf1"].scripts == [configs / "leaf1" / "interfaces.sh"]
    assert startups["h1"].scripts == [configs / "h1.sh"] and startups["h1"].frr_config is None
    assert all(s.rendered for s in startups.values())
    bare = node_startups(topology, None)
    assert bare["leaf1"].frr_config == default_frr_config("leaf1") and bare["leaf1"].origin == "empty"
    with pytest.raises(VxautoError, match="no rendered output for any node"):
        node_startups(topology, tmp_path)  # a directory without any node's output: a wrong --configs
    with pytest.raises(VxautoError, match="directory not found"):
        node_startups(topology, tmp_path / "missing")
