"""`--traffic` checks: anomalies fail, and a VTEP that should have sent VXLAN but sent nothing is
inconclusive (a failure), never clean."""

from __future__ import annotations

from types import SimpleNamespace

from vxauto.validate.traffic import traffic_checks


def report(packets: int, anomalies: list[SimpleNamespace] | None = None) -> SimpleNamespace:
    """The two fields of `vxauto.monitor.analysis.Report` that the checks read."""
    return SimpleNamespace(packets=packets, anomalies=anomalies or [])


def test_a_silent_vtep_that_should_have_sent_is_inconclusive() -> None:
    found = traffic_checks({"leaf1": report(0), "leaf2": report(12)}, must_send={"leaf1", "leaf2"})  # type: ignore[dict-item]
    verdicts = {c.host: (c.passed, c.actual) for c in found}
    assert verdicts["leaf1"][0] is False and verdicts["leaf1"][1].startswith("inconclusive")
    assert verdicts["leaf2"] == (True, "12 VXLAN packets, 0 errors, 0 warnings")


def test_a_vtep_with_nothing_to_send_may_be_silent() -> None:
    found = traffic_checks({"spine-vtep": report(0)}, must_send=set())  # type: ignore[dict-item]
    assert [c.passed for c in found] == [True]


def test_an_error_anomaly_fails_and_names_the_vni() -> None:
    wrong = SimpleNamespace(severity="error", kind="unexpected-vni", vni=10040, message="VNI 10040 not carried")
    found = traffic_checks({"leaf1": report(30, [wrong])}, must_send={"leaf1"})  # type: ignore[dict-item]
    assert [(c.check, c.passed) for c in found] == [("traffic anomalies", False),
                                                    ("traffic unexpected-vni (VNI 10040)", False)]
