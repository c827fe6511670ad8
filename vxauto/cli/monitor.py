"""`vxauto monitor` sub-commands: see inside the VXLAN tunnels of a capture file or a live interface."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from vxauto.cli.common import JsonOption, bad_input_exits, console, err_console
from vxauto.errors import VxautoError
from vxauto.monitor.analysis import MAX_FLOWS, Analyzer, Report, Thresholds
from vxauto.monitor.decode import Decoder
from vxauto.monitor.intent import IntentView
from vxauto.monitor.merge import DEFAULT_WINDOW_NS, MATCHED_BY, Partial, Settings
from vxauto.monitor.scalar import DEFAULT_PORTS

app = typer.Typer(no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="monitor", help="See inside the tunnels: decode and check VXLAN traffic.")


IntentOption = Annotated[
    Path | None, typer.Option("--inventory", "-i", help="Inventory directory: check the traffic against this intent.")
]
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Write the top inner flows as CSV to this file.")]
HtmlOption = Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report to this file.")]
PortsOption = Annotated[
    str, typer.Option("--ports", help="VXLAN UDP ports, comma separated (the intent's udp_port is always added).")
]
BumOption = Annotated[float, typer.Option("--bum-pps", help="BUM packets per second per VNI that count as a storm.")]
PrometheusOption = Annotated[
    int | None, typer.Option("--prometheus", help="Serve Prometheus metrics on 127.0.0.1:PORT (0: any free port).")
]
IpfixOption = Annotated[str | None, typer.Option("--ipfix", help="Export IPFIX to a collector, HOST:PORT (UDP).")]
FlowsOption = Annotated[
    str, typer.Option("--flows", help="Flows in the report: the top N by bytes (default 100), or 'all' to stream "
                      "every flow as JSON lines on stdout (the report follows as the last line).")
]
MaxFlowsOption = Annotated[
    int, typer.Option("--max-flows", help="Flows counted exactly; past this many the flow table becomes a "
                      "heavy-hitter summary of this size (the report says which).")
]
FailOption = Annotated[
    str | None, typer.Option("--fail-on", help="Exit 1 when an anomaly of this severity or worse is found "
                             "(error or warning).")
]


def _ports(text: str, intent: IntentView | None) -> tuple[int, ...]:
    try:
        ports = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise VxautoError.single("--ports", "", "must be comma-separated port numbers", text) from None
    if not ports or any(not 0 < port < 65536 for port in ports):
        raise VxautoError.single("--ports", "", "ports must be between 1 and 65535", text)
    if intent is not None:
        ports.add(intent.udp_port)
    return tuple(sorted(ports))


def _intent(inventory: Path | None) -> IntentView | None:
    return IntentView.load(inventory) if inventory is not None else None


def _collector(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise VxautoError.single("--ipfix", "", "must be HOST:PORT, e.g. 127.0.0.1:4739", text)
    return host, int(port)


def _top_flows(text: str) -> int | None:
    """--flows: N (the top N flows) or all (None)."""
    if text == "all":
        return None
    if not text.isdigit():
        raise VxautoError.single("--flows", "", "must be a number of flows or 'all'", text)
    return int(text)


def _analyzer(intent: IntentView | None, bum_pps: float, flows: str, max_flows: int) -> Analyzer:
    if max_flows < 1:
        raise VxautoError.single("--max-flows", "", "must be at least 1", max_flows)
    top = _top_flows(flows)
    return Analyzer(intent, Thresholds(bum_pps=bum_pps), max_flows=max_flows, top_flows=100 if top is None else top)


def _stream_flows(analyzer: Analyzer, report: Report) -> None:
    """--flows all: every flow as a JSON line, then the report (without its flow list) as the last line."""
    # Written in blocks through sys.stdout's buffer: typer.echo flushes every line (30 s for 500k flows).
    import json
    import sys

    from vxauto.monitor.report_formats import flow_lines

    for block in flow_lines(analyzer):
        if block:
            sys.stdout.write(block + "\n")
    document = report.as_dict()
    document.pop("flows")
    sys.stdout.write(json.dumps({"report": document}) + "\n")
    sys.stdout.flush()


def _outputs(report: Report, as_json: bool, csv: Path | None, html: Path | None, ipfix: str | None,
             analyzer: Analyzer | None = None) -> None:
    """Write the report; with `analyzer` (--flows all) stdout carries every flow as JSON lines instead."""
    # Imported where used: a --json run then loads neither the HTML writer nor Rich's tables.
    if csv is not None:
        from vxauto.monitor.report_formats import write_csv

        write_csv(report, csv)
    if html is not None:
        from vxauto.monitor.html import write_html

        write_html(report, html)
    if ipfix is not None:
        from vxauto.monitor.ipfix import IpfixExporter

        host, port = _collector(ipfix)
        # Tunnels (exact per VTEP pair and VNI) in their own observation domain: a collector adding up per
        # VNI, like pmacct's vxlan primitive, then counts each packet once (flows are only the top N).
        exporter = IpfixExporter(host, port, domain=1, tunnel_domain=2)
        try:
            sent = exporter.export(report)
        finally:
            exporter.close()
        err_console.print(f"IPFIX: {sent} records in {exporter.sent_messages} messages to {host}:{port}")
    if analyzer is not None:
        _stream_flows(analyzer, report)
    elif as_json:
        from vxauto.monitor.report_formats import to_json

        typer.echo(to_json(report))
    else:
        from vxauto.monitor.report_formats import print_summary

        print_summary(report, console)


def _exit_code(report: Report, fail_on: str | None) -> int:
    if fail_on is None:
        return 0
    if fail_on not in ("error", "warning"):
        raise VxautoError.single("--fail-on", "", "must be error or warning", fail_on)
    severities = {"error"} if fail_on == "error" else {"error", "warning"}
    return 1 if any(a.severity in severities for a in report.anomalies) else 0


def _serve_until_interrupted(report: Report, port: int) -> None:
    from vxauto.monitor.prometheus import serve_metrics

    server = serve_metrics(lambda: report, port)
    err_console.print(f"Prometheus metrics on http://127.0.0.1:{server.server_port}/metrics (Ctrl-C stops)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


def _capture_view(files: list[Path], settings: Settings, scheduler: str | None, workers: int | None) -> tuple[
    Partial, list[Path]
]:
    from vxauto.monitor.merge import analyse, analyse_one, capture_files

    if scheduler is not None and workers is not None:
        raise VxautoError.single("--scheduler/--workers", "", "give one: a Dask scheduler address, or a number of "
                                 "local workers")
    if workers is not None and workers < 1:
        raise VxautoError.single("--workers", "", "must be at least 1", workers)
    paths = capture_files(files)
    if len(paths) == 1 and scheduler is None and workers is None:
        return analyse_one(paths[0], settings), paths
    return analyse(paths, settings, scheduler, workers, progress=err_console.print), paths


@app.command("pcap")
def pcap(
    files: Annotated[list[Path], typer.Argument(help="pcap or pcapng capture files, or directories of them: "
                                                "merged into one view, a packet seen on several taps counted once.")],
    inventory: IntentOption = None,
    as_json: JsonOption = False,
    csv: CsvOption = None,
    html: HtmlOption = None,
    ports: PortsOption = ",".join(map(str, DEFAULT_PORTS)),
    bum_pps: BumOption = 1000.0,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="On a corrupt capture file, report what was read before it.")
    ] = False,
    prometheus: PrometheusOption = None,
    ipfix: IpfixOption = None,
    fail_on: FailOption = None,
    flows: FlowsOption = "100",
    max_flows: MaxFlowsOption = MAX_FLOWS,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Run on this Dask distributed scheduler (e.g. tcp://10.0.0.5:8786); the workers must "
        "see the capture files at the same paths.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Run on a local Dask cluster of this many worker processes.")] = None,
    dedup_window: Annotated[float, typer.Option(
        "--dedup-window", help="Milliseconds within which copies of a packet on different captures are one "
        "packet.")] = DEFAULT_WINDOW_NS / 1e6,
) -> None:
    """Decode capture files and show what runs inside the VXLAN tunnels (checked against the intent with -i)."""
    with bad_input_exits():
        intent = _intent(inventory)
        analyzer_options = _analyzer(intent, bum_pps, flows, max_flows)
        if dedup_window < 0:
            raise VxautoError.single("--dedup-window", "", "must not be negative", dedup_window)
        settings = Settings(_ports(ports, intent), intent, analyzer_options.thresholds, max_flows,
                            analyzer_options.top_flows, not keep_going, int(dedup_window * 1e6))
        partial, paths = _capture_view(files, settings, scheduler, workers)
        source = str(paths[0]) if len(paths) == 1 else f"{len(paths)} captures"
        report = partial.analyzer.report(partial.stats, source)
        if len(paths) > 1:
            report.captures = {"files": [str(p) for p in paths], "duplicates": partial.duplicates,
                               "matched_by": MATCHED_BY.format(window=f"{dedup_window:g}")}
        _outputs(report, as_json, csv, html, ipfix, partial.analyzer if flows == "all" else None)
        code = _exit_code(report, fail_on)
    if prometheus is not None:
        _serve_until_interrupted(report, prometheus)
    raise typer.Exit(code)


@app.command("live")
def live(
    iface: Annotated[str, typer.Option("--iface", help="Interface to capture on.")],
    lab: Annotated[Path | None, typer.Option("--lab", help="Lab topology file (with --node).")] = None,
    node: Annotated[str | None, typer.Option("--node", help="Lab node whose namespace to capture in.")] = None,
    netns: Annotated[str | None, typer.Option("--netns", help="Network namespace to capture in.")] = None,
    seconds: Annotated[float | None, typer.Option("--seconds", help="Stop after this long (default: Ctrl-C).")] = None,
    inventory: IntentOption = None,
    as_json: JsonOption = False,
    csv: CsvOption = None,
    html: HtmlOption = None,
    ports: PortsOption = ",".join(map(str, DEFAULT_PORTS)),
    bum_pps: BumOption = 1000.0,
    top: Annotated[bool, typer.Option("--top/--no-top", help="Live top view while capturing.")] = False,
    bpf: Annotated[str | None, typer.Option("--filter", help="tcpdump (BPF) filter expression.")] = None,
    prometheus: PrometheusOption = None,
    ipfix: IpfixOption = None,
    fail_on: FailOption = None,
) -> None:
    """Capture on an interface (in a lab node's namespace) and show what runs inside the tunnels."""
    from vxauto.monitor.live import LiveCapture, namespace_of_lab
    from vxauto.monitor.report_formats import summary

    with bad_input_exits():
        if lab is not None or node is not None:
            if lab is None or node is None or netns is not None:
                raise VxautoError.single("--lab/--node", "", "give --lab and --node together (or --netns alone)")
            netns = namespace_of_lab(lab, node)
        intent = _intent(inventory)
        capture = LiveCapture(iface, Analyzer(intent, Thresholds(bum_pps=bum_pps)), Decoder(_ports(ports, intent)),
                              netns=netns, bpf=bpf)
        server = None
        latest: list[Report] = []
        if prometheus is not None:
            from vxauto.monitor.prometheus import serve_metrics

            server = serve_metrics(lambda: latest[-1] if latest else None, prometheus)
            err_console.print(f"Prometheus metrics on http://127.0.0.1:{server.server_port}/metrics")
        try:
            if top:
                from rich.live import Live

                with Live(console=console, refresh_per_second=2) as view:
                    def refresh(report: Report) -> None:
                        latest.append(report)
                        del latest[:-1]
                        view.update(summary(report, top_flows=15))
                    report = capture.run(seconds, refresh)
            else:
                def keep_latest(fresh: Report) -> None:
                    latest.append(fresh)
                    if len(latest) > 1:
                        latest.pop(0)

                report = capture.run(seconds, keep_latest)
        finally:
            if server is not None:
                server.shutdown()
        _outputs(report, as_json, csv, html, ipfix)
        code = _exit_code(report, fail_on)
    raise typer.Exit(code)


if __name__ == "__main__":  # `python -m vxauto.cli.monitor pcap ...`: the monitor alone, without the other commands
    app()
