"""Rendering every vendor platform twice gives byte-identical configurations (static variants only where the
platform floods statically)."""

from __future__ import annotations

import pytest

CASES = [(p, "evpn") for p in ("eos", "nxos", "junos", "cumulus", "srlinux", "sonic")]
CASES += [(p, "static") for p in ("eos", "nxos", "junos", "cumulus")]


@pytest.mark.parametrize(("platform", "variant"), CASES, ids=[f"{p}-{v}" for p, v in CASES])
def test_rendering_is_deterministic(platform: str, variant: str, vendor_render) -> None:
    first = vendor_render(platform, variant).configs
    second = vendor_render(platform, variant).configs
    assert set(first) == set(second)
    assert all(text.encode() == second[host].encode() for host, text in first.items())
