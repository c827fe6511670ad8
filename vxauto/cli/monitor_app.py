"""`vxauto monitor` sub-commands through Typer: see inside the VXLAN tunnels of a capture file or a live interface.

The body of `pcap` is `monitor_pcap.run_pcap`, which the lean entry (monitor.py) also runs without Typer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vxauto.cli.common import JsonOption, bad_input_exits, console, err_console
from vxauto.cli.monitor_pcap import (
    DEFAULT_PORTS_TEXT,
    PcapOptions,
    exit_code,
    intent_of,
    ports_of,
    run_pcap,
    serve_until_interrupted,
    write_outputs,
)
from vxauto.errors import VxautoError
from vxauto.monitor.analysis import MAX_FLOWS, Analyzer, Report, Thresholds
from vxauto.monitor.decode import Decoder
from vxauto.monitor.merge import DEFAULT_WINDOW_NS

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


@app.command("pcap")
def pcap(
    files: Annotated[list[Path], typer.Argument(help="pcap or pcapng capture files, or directories of them: "
                                                "merged into one view, a packet seen on several taps counted once.")],
    inventory: IntentOption = None,
    as_json: JsonOption = False,
    csv: CsvOption = None,
    html: HtmlOption = None,
    ports: PortsOption = DEFAULT_PORTS_TEXT,
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
    options = PcapOptions(files, inventory, as_json, csv, html, ports, bum_pps, keep_going, prometheus, ipfix, fail_on,
                          flows, max_flows, scheduler, workers, dedup_window)
    with bad_input_exits():
        report, code = run_pcap(options)
    if prometheus is not None:
        serve_until_interrupted(report, prometheus)
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
    ports: PortsOption = DEFAULT_PORTS_TEXT,
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
        intent = intent_of(inventory)
        capture = LiveCapture(iface, Analyzer(intent, Thresholds(bum_pps=bum_pps)), Decoder(ports_of(ports, intent)),
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
        write_outputs(report, as_json, csv, html, ipfix)
        code = exit_code(report, fail_on)
    raise typer.Exit(code)
