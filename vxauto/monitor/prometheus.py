"""Prometheus metrics of the overlay, served on 127.0.0.1 by prometheus-client.

A custom collector builds the metric families from the newest `Report` at every scrape, so a live
capture's counters grow between scrapes and a file's report can be served as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vxauto.monitor.analysis import Report

PREFIX = "vxauto_overlay"


class ReportCollector(Collector):
    """Turns the report returned by `source()` into metric families at each scrape."""

    def __init__(self, source: Callable[[], Report | None]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        report = self.source()
        if report is None:
            return
        yield from self._vni_metrics(report)
        yield from self._pair_metrics(report)
        yield from self._health_metrics(report)

    def _vni_metrics(self, report: Report) -> Iterator[Metric]:
        labels = ["vni", "segment", "tenant"]
        packets = CounterMetricFamily(f"{PREFIX}_packets", "VXLAN packets per VNI", labels=labels)
        octets = CounterMetricFamily(f"{PREFIX}_inner_bytes", "Inner frame bytes per VNI", labels=labels)
        bum = CounterMetricFamily(f"{PREFIX}_bum_packets", "BUM packets per VNI", labels=[*labels, "kind"])
        peak = GaugeMetricFamily(f"{PREFIX}_bum_peak_pps", "Highest BUM packets in one second per VNI",
                                 labels=labels)
        for vni, summary in report.vnis.items():
            values = [str(vni), summary.segment or "", summary.tenant or ""]
            packets.add_metric(values, summary.packets)
            octets.add_metric(values, summary.bytes)
            for kind in ("broadcast", "multicast", "unknown_unicast"):
                bum.add_metric([*values, kind], getattr(summary, kind))
            peak.add_metric(values, summary.max_bum_pps)
        yield from (packets, octets, bum, peak)

    def _pair_metrics(self, report: Report) -> Iterator[Metric]:
        labels = ["src", "dst", "src_name", "dst_name", "vni"]
        packets = CounterMetricFamily(f"{PREFIX}_pair_packets", "VXLAN packets per VTEP pair and VNI", labels=labels)
        octets = CounterMetricFamily(f"{PREFIX}_pair_wire_bytes", "Outer frame bytes per VTEP pair and VNI",
                                     labels=labels)
        for pair in report.pairs:
            values = [pair.src, pair.dst, pair.src_name or "", pair.dst_name or "", str(pair.vni)]
            packets.add_metric(values, pair.counters["packets"])
            octets.add_metric(values, pair.counters["wire_bytes"])
        yield from (packets, octets)

    def _health_metrics(self, report: Report) -> Iterator[Metric]:
        frames = CounterMetricFamily(f"{PREFIX}_frames", "Captured frames by decode status", labels=["status"])
        for status, count in sorted(report.decode.statuses.items()):
            frames.add_metric([status], count)
        anomalies = GaugeMetricFamily(f"{PREFIX}_anomalies", "Anomalies found, by kind and severity",
                                      labels=["kind", "severity"])
        for (kind, severity), count in sorted(Counter((a.kind, a.severity) for a in report.anomalies).items()):
            anomalies.add_metric([kind, severity], count)
        flows = GaugeMetricFamily(f"{PREFIX}_inner_flows", "Inner flows seen (estimated past the exact bound)")
        flows.add_metric([], report.flow_info().flows)
        yield from (frames, anomalies, flows)


def serve_metrics(source: Callable[[], Report | None], port: int = 0, address: str = "127.0.0.1") -> WSGIServer:
    """Start the endpoint in a background thread; `server.server_port` is the port, `shutdown()` stops it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(source))
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return server
