"""`vxauto validate` on the static-linux lab: hypervisor VTEPs with static flood lists (no EVPN).

Green as rendered; a flood-list entry removed by hand on hv1 is named exactly; the rendered scripts
repair it; green again. The lab goes down in a `finally`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.validate.faults import (
    FAULT_WAIT_S,
    STATIC_FAULTS,
    DemoLab,
    lab_machine_missing,
    static_lab,
    validate,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(lab_machine_missing() is not None, reason=lab_machine_missing() or "")]


@pytest.fixture(scope="module")
def hypervisors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoLab]:
    with static_lab(tmp_path_factory.mktemp("validate-static")) as lab:
        yield lab


def test_static_fabric_is_green_with_static_learning(hypervisors: DemoLab) -> None:
    run = validate(hypervisors)  # right after lab up: the product's own wait covers convergence
    assert run.passed, [(c.host, c.check, c.actual) for c in run.failed]
    flood = {(c.host, c.check): c.actual for c in run.checks if c.check.endswith(" flood")}
    assert flood[("hv1", "vni 30010 flood")] == "10.0.1.12, 10.0.1.13 (static)"
    assert any(c.check == "flood to hv2 10.0.1.12" for c in run.checks)
    assert sum(c.kind == "ping" for c in run.checks) == 4  # web: vm1-vm2, vm1-vm3, vm2-vm3; db: vm1-vm3


@pytest.mark.parametrize("fault", STATIC_FAULTS, ids=[f.name for f in STATIC_FAULTS])
def test_static_fault_is_named_exactly_then_repaired(hypervisors: DemoLab, fault) -> None:
    assert validate(hypervisors).passed
    fault.inject(hypervisors)
    try:
        broken = validate(hypervisors, wait=FAULT_WAIT_S)
    finally:
        fault.restore(hypervisors)
    failed = {(c.host, c.check) for c in broken.failed}
    assert fault.must_fail <= failed, (fault.description, [(c.host, c.check, c.actual) for c in broken.failed])
    assert all(fault.blames(c) for c in broken.failed), [(c.host, c.check, c.actual) for c in broken.failed]
    flood = next(c for c in broken.failed if (c.host, c.check) == ("hv1", "vni 30010 flood"))
    assert flood.actual == "10.0.1.13 (static), missing 10.0.1.12"
    assert validate(hypervisors).passed
