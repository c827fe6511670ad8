"""The pyvtep platform: the rendered config must load in pyvtep itself and mean the intent."""

from __future__ import annotations

from tests.conftest import REPO
from vxauto.model import load_fabric
from vxauto.render import render_device
from vxauto.vtep.config import config_from_text

INTENT = REPO / "tests/fixtures/intents/pyvtep-mixed"


def test_rendered_pyvtep_config_is_accepted_by_pyvtep() -> None:
    fabric = load_fabric(INTENT)
    rendered = render_device(fabric.device("pv1"))
    assert not rendered.single and set(rendered.files) == {"pyvtep.yaml", "interfaces.sh"}
    config = config_from_text(rendered.files["pyvtep.yaml"], "pv1/pyvtep.yaml")
    assert str(config.local_ip) == "10.0.0.12"
    vnis = {v.vni: v for v in config.vnis}
    assert set(vnis) == {10010, 10020}
    # red-db floods statically to the only other VTEP carrying it; red-web learns its peers from EVPN.
    assert [str(ip) for ip in vnis[10020].flood] == ["10.0.0.11"]
    assert list(vnis[10010].flood) == []
    assert vnis[10010].route_target == "65000:10010"
    assert config.evpn is not None and config.evpn.asn == 65102
    assert [(str(n.address), n.asn) for n in config.evpn.neighbors] == [("10.1.2.0", 65000)]


def test_pyvtep_kernel_side_routes_to_remote_vteps() -> None:
    script = render_device(load_fabric(INTENT).device("pv1")).files["interfaces.sh"]
    assert "ip route replace 10.0.0.11/32 via 10.1.2.0" in script
    assert "ip link set dev eth4 master br10020 mtu 1500 up" in script
