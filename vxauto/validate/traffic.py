"""`vxauto validate --traffic`: watch the tunnels while the data-plane checks run.

One capture per VTEP of the lab (tcpdump on `any` inside the node's namespace, outbound VXLAN only, so
every tunnel packet is seen once, at the VTEP that sent it), decoded and checked against the intent by
`vxauto.monitor`. Each capture's anomalies become validation checks: errors fail, warnings are reported
as passed checks that say so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from vxauto.model.fabric import Fabric
from vxauto.monitor.analysis import Analyzer, Report
from vxauto.monitor.decode import Decoder
from vxauto.monitor.intent import IntentView
from vxauto.monitor.live import LiveCapture
from vxauto.validate.checks import Check

T = TypeVar("T")
# Only what a VTEP sends: each tunnel packet once (its receiver would see it a second time).
OUTBOUND_VXLAN = "outbound and udp"


@dataclass
class TrafficWatch:
    """Captures on several nodes at once, pumped by one background thread while the checks run."""

    captures: dict[str, LiveCapture]
    _stop: threading.Event = field(default_factory=threading.Event)

    def run_while(self, action: Callable[[], T]) -> T:
        for capture in self.captures.values():
            capture.start()
        pumper = threading.Thread(target=self._pump, daemon=True)
        pumper.start()
        try:
            return action()
        finally:
            self._stop.set()
            pumper.join()
            for capture in self.captures.values():
                capture.stop()
                capture.decoder.finish()

    def _pump(self) -> None:
        # tcpdump writes into a pipe: read it continuously or it blocks and drops packets.
        while not self._stop.is_set():
            for capture in self.captures.values():
                capture.pump(0.02)

    def reports(self) -> dict[str, Report]:
        return {node: capture.report() for node, capture in self.captures.items()}


def watch_vteps(fabric: Fabric, namespaces: dict[str, str], nodes: Sequence[str]) -> TrafficWatch:
    """A watch over the given VTEP nodes (`namespaces`: node -> its network namespace)."""
    view = IntentView.from_fabric(fabric)
    ports = tuple(sorted({4789, 8472, fabric.intent.fabric.udp_port}))
    captures = {
        node: LiveCapture("any", Analyzer(view), Decoder(ports), netns=namespaces[node], bpf=OUTBOUND_VXLAN)
        for node in nodes
    }
    return TrafficWatch(captures)


def traffic_checks(reports: dict[str, Report], must_send: set[str] | frozenset[str] = frozenset()) -> list[Check]:
    """One check per VTEP, and one per anomaly. A VTEP in `must_send` (it has ports in segments the probes
    made talk) that sent no VXLAN packet at all has nothing to be clean about: that is inconclusive, a
    failure, never a pass."""
    checks = []
    for node, report in reports.items():
        errors = [a for a in report.anomalies if a.severity == "error"]
        silent = report.packets == 0 and node in must_send
        actual = (f"{report.packets} VXLAN packets, {len(errors)} errors, "
                  f"{len(report.anomalies) - len(errors)} warnings")
        if silent:
            actual = "inconclusive: captured no VXLAN packet although the probes crossed this VTEP"
        checks.append(Check(node, "traffic anomalies", "no errors in the tunnels this VTEP sends into",
                            actual, not errors and not silent, "traffic"))
        for anomaly in report.anomalies:
            where = f" (VNI {anomaly.vni})" if anomaly.vni is not None else ""
            checks.append(Check(node, f"traffic {anomaly.kind}{where}", "none",
                                f"{anomaly.severity}: {anomaly.message}", anomaly.severity != "error", "traffic"))
    return checks
