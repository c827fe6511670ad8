"""The driver's `cli()` (NAPALM's signature: a list of commands, text or json) on the replayed lab answers."""

from __future__ import annotations

import pytest

from tests.napalm_frr.conftest import NapalmFrrDriver
from tests.napalm_frr.double import RECORDED_HOST, ReplaySession


def driver() -> NapalmFrrDriver:
    device = NapalmFrrDriver(RECORDED_HOST, "root", "")
    device._session = ReplaySession("evpn-frr-leaf1")  # type: ignore[assignment]
    return device


def test_cli_text_and_json() -> None:
    text = driver().cli(["hostname", "uname -sr"])
    assert text["hostname"].strip() == "leaf1" and text["uname -sr"].startswith("Linux ")
    links = driver().cli(["ip -j link show"], encoding="json")["ip -j link show"]
    assert {"lo", "eth1", "eth2", "vxlan10010"} <= {link["ifname"] for link in links}  # type: ignore[union-attr]
    with pytest.raises(NotImplementedError):
        driver().cli(["hostname"], encoding="xml")
