"""Overlay visibility: decode VXLAN captures, aggregate per VNI / tenant / VTEP pair / inner flow, check
the traffic against the intent, and publish it (terminal, JSON, CSV, HTML, Prometheus, IPFIX).

Entry points: `decode_capture` (a pcap/pcapng file to a `PacketTable`), `Analyzer` (tables to a `Report`
with anomalies; `Analyzer.merge` adds another one's counts), `merge.analyse` (many captures in pieces,
duplicates across taps counted once, locally or on Dask), `IntentView` (the intent as the checks need
it), `LiveCapture` / `capture_during` (tcpdump in a namespace). The CLI is `vxauto monitor pcap|live`.
"""

from __future__ import annotations

from vxauto.monitor.analysis import Analyzer, Anomaly, Report, Thresholds
from vxauto.monitor.capture import Frames, read_capture
from vxauto.monitor.decode import Decoder, DecodeStats, decode_capture
from vxauto.monitor.intent import IntentView
from vxauto.monitor.table import PacketTable

__all__ = [
    "Analyzer",
    "Anomaly",
    "DecodeStats",
    "Decoder",
    "Frames",
    "IntentView",
    "PacketTable",
    "Report",
    "Thresholds",
    "decode_capture",
    "read_capture",
]
