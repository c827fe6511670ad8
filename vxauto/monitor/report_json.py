"""The JSON views of a monitor `Report`: the document of `--json` and the JSON lines of `--flows all`.

Apart from the terminal tables (report_formats.py) so that a `--json` run imports no Rich.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from vxauto.monitor.analysis import NS, Analyzer, Report


def to_json(report: Report, indent: int | None = 2) -> str:
    """The JSON report. Indented, with one line per pair, flow and anomaly: json's C encoder only runs without
    `indent`, and the pure-Python one takes half a second for a thousand VTEP pairs."""
    document = report.as_dict()
    if indent is None:
        return json.dumps(document)
    pad = " " * indent
    members = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            text = "[\n" + ",\n".join(f"{pad * 2}{json.dumps(item)}" for item in value) + f"\n{pad}]"
        else:
            text = json.dumps(value, indent=indent).replace("\n", "\n" + pad)
        members.append(f"{pad}{json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(members) + "\n}"


def flow_lines(analyzer: Analyzer) -> Iterator[str]:
    """Every flow of the analyzer as JSON lines by bytes (`--flows all`), one block of lines per chunk.

    Lines are formatted directly: every text field but the tenant is an address, a number or a fixed
    name, so only the tenant goes through the JSON encoder.
    """
    names: dict[str | None, str] = {}
    for columns in analyzer.iter_flow_columns(None):
        lines = []
        for vni, tenant, ethertype, src, dst, proto, sport, dport, packets, octets, first, last in zip(
            *columns, strict=True
        ):
            quoted = names.get(tenant) or names.setdefault(tenant, json.dumps(tenant))
            lines.append(
                f'{{"vni": {vni}, "tenant": {quoted}, "ethertype": "{ethertype}", "src": "{src}", "dst": "{dst}", '
                f'"proto": "{proto}", "sport": {sport}, "dport": {dport}, "packets": {packets}, "bytes": {octets}, '
                f'"first_seen": {first / NS}, "last_seen": {last / NS}}}'
            )
        yield "\n".join(lines)
