"""The body of `vxauto monitor pcap`, and a lean way in that skips Typer for plain invocations.

Starting Typer costs about 0.35 s of CPU per run (importing it and pydantic, then building a pydantic
`TypeAdapter` for every option), more than decoding a 100 MB capture. `fast_main` parses the common
forms of `pcap FILE... [--option value | --option=value | --flag]...` itself into exactly the values Typer
would pass (`tests/monitor/test_lean_entry.py` compares the two on many command lines) and runs the same
body, `run_pcap`; anything else (`--help`, an unknown or misspelt option, a value Typer would reject,
no files) returns None, and the caller hands the whole command line to Typer, which answers as always.
Nothing here imports Rich unless it is needed (tables, messages), nor Typer but to print bad input (common.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxauto.errors import EXIT_BAD_INPUT, VxautoError
from vxauto.monitor.analysis import MAX_FLOWS, Analyzer, Report, Thresholds
from vxauto.monitor.intent import IntentView
from vxauto.monitor.merge import DEFAULT_WINDOW_NS, MATCHED_BY, Partial, Settings
from vxauto.monitor.scalar import DEFAULT_PORTS

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_PORTS_TEXT = ",".join(map(str, DEFAULT_PORTS))


def out_console() -> Console:
    """vxauto.cli.common's console when Typer's side has it, else an equal one (importing common imports Typer)."""
    common = sys.modules.get("vxauto.cli.common")
    if common is not None:
        return common.console
    from rich.console import Console

    return Console()


def err_print(message: str) -> None:
    common = sys.modules.get("vxauto.cli.common")
    if common is not None:
        common.err_console.print(message)
        return
    from rich.console import Console

    Console(stderr=True).print(message)


@dataclass
class PcapOptions:
    """The options of `vxauto monitor pcap`, with Typer's defaults (the names are the function's parameters)."""

    files: list[Path] = field(default_factory=list)
    inventory: Path | None = None
    as_json: bool = False
    csv: Path | None = None
    html: Path | None = None
    ports: str = DEFAULT_PORTS_TEXT
    bum_pps: float = 1000.0
    keep_going: bool = False
    prometheus: int | None = None
    ipfix: str | None = None
    fail_on: str | None = None
    flows: str = "100"
    max_flows: int = MAX_FLOWS
    scheduler: str | None = None
    workers: int | None = None
    dedup_window: float = DEFAULT_WINDOW_NS / 1e6


#: Options that take a value: option text -> (parameter, conversion, as Click converts them).
VALUE_OPTIONS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "--inventory": ("inventory", Path), "-i": ("inventory", Path), "--csv": ("csv", Path), "--html": ("html", Path),
    "--ports": ("ports", str), "--bum-pps": ("bum_pps", float), "--prometheus": ("prometheus", int),
    "--ipfix": ("ipfix", str), "--fail-on": ("fail_on", str), "--flows": ("flows", str),
    "--max-flows": ("max_flows", int), "--scheduler": ("scheduler", str), "--workers": ("workers", int),
    "--dedup-window": ("dedup_window", float),
}
FLAG_OPTIONS = {"--json": "as_json", "--keep-going": "keep_going"}


def parse_pcap_args(args: list[str]) -> PcapOptions | None:
    """The options of `pcap ARGS`, or None where Typer should answer (help, errors, unusual forms)."""
    options = PcapOptions()
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if token == "--":  # everything after it is a file
            options.files += [Path(t) for t in rest]
            break
        if not token.startswith("-") or token == "-":
            if token == "-":
                return None
            options.files.append(Path(token))
            continue
        name, has_value, inline = token.partition("=")
        if name in FLAG_OPTIONS and not has_value:
            setattr(options, FLAG_OPTIONS[name], True)
            continue
        if name not in VALUE_OPTIONS or (has_value and not name.startswith("--")):
            return None  # --help, unknown options, -i=... : Typer's answer
        if not has_value:
            if not rest or rest[0].startswith("-"):
                return None
            inline = rest.pop(0)
        attribute, convert = VALUE_OPTIONS[name]
        try:
            setattr(options, attribute, convert(inline))
        except ValueError:
            return None
    return options if options.files else None


@contextmanager
def bad_input_exits_lean() -> Iterator[None]:
    """`vxauto.cli.common.bad_input_exits` without Typer: the same messages and exit codes."""
    try:
        yield
    except VxautoError as error:
        from vxauto.cli.common import report_bad_input

        report_bad_input(error)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        err_print("interrupted")
        raise SystemExit(130) from None


def fast_main(args: list[str]) -> int | None:
    """Run `pcap ARGS` without Typer; None if the command line is for Typer to answer (see the module text)."""
    options = parse_pcap_args(args)
    if options is None:
        return None
    with bad_input_exits_lean():
        report, code = run_pcap(options)
    if options.prometheus is not None:
        serve_until_interrupted(report, options.prometheus)
    return code


def ports_of(text: str, intent: IntentView | None) -> tuple[int, ...]:
    try:
        ports = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise VxautoError.single("--ports", "", "must be comma-separated port numbers", text) from None
    if not ports or any(not 0 < port < 65536 for port in ports):
        raise VxautoError.single("--ports", "", "ports must be between 1 and 65535", text)
    if intent is not None:
        ports.add(intent.udp_port)
    return tuple(sorted(ports))


def intent_of(inventory: Path | None) -> IntentView | None:
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

    from vxauto.monitor.report_json import flow_lines

    for block in flow_lines(analyzer):
        if block:
            sys.stdout.write(block + "\n")
    document = report.as_dict()
    document.pop("flows")
    sys.stdout.write(json.dumps({"report": document}) + "\n")
    sys.stdout.flush()


def write_outputs(report: Report, as_json: bool, csv: Path | None, html: Path | None, ipfix: str | None,
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
        err_print(f"IPFIX: {sent} records in {exporter.sent_messages} messages to {host}:{port}")
    if analyzer is not None:
        _stream_flows(analyzer, report)
    elif as_json:
        from vxauto.monitor.report_json import to_json

        # What typer.echo did: one write of the text and a newline, flushed.
        sys.stdout.write(to_json(report) + "\n")
        sys.stdout.flush()
    else:
        from vxauto.monitor.report_formats import print_summary

        print_summary(report, out_console())


def exit_code(report: Report, fail_on: str | None) -> int:
    if fail_on is None:
        return 0
    if fail_on not in ("error", "warning"):
        raise VxautoError.single("--fail-on", "", "must be error or warning", fail_on)
    severities = {"error"} if fail_on == "error" else {"error", "warning"}
    return 1 if any(a.severity in severities for a in report.anomalies) else 0


def serve_until_interrupted(report: Report, port: int) -> None:
    from vxauto.monitor.prometheus import serve_metrics

    server = serve_metrics(lambda: report, port)
    err_print(f"Prometheus metrics on http://127.0.0.1:{server.server_port}/metrics (Ctrl-C stops)")
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
    return analyse(paths, settings, scheduler, workers, progress=err_print), paths


def run_pcap(options: PcapOptions) -> tuple[Report, int]:
    """Decode the captures, write the outputs; (the report, the exit code). Raises VxautoError on bad input."""
    intent = intent_of(options.inventory)
    analyzer_options = _analyzer(intent, options.bum_pps, options.flows, options.max_flows)
    if options.dedup_window < 0:
        raise VxautoError.single("--dedup-window", "", "must not be negative", options.dedup_window)
    settings = Settings(ports_of(options.ports, intent), intent, analyzer_options.thresholds, options.max_flows,
                        analyzer_options.top_flows, not options.keep_going, int(options.dedup_window * 1e6))
    partial, paths = _capture_view(options.files, settings, options.scheduler, options.workers)
    source = str(paths[0]) if len(paths) == 1 else f"{len(paths)} captures"
    report = partial.analyzer.report(partial.stats, source)
    if len(paths) > 1:
        report.captures = {"files": [str(p) for p in paths], "duplicates": partial.duplicates,
                           "matched_by": MATCHED_BY.format(window=f"{options.dedup_window:g}")}
    write_outputs(report, options.as_json, options.csv, options.html, options.ipfix,
                  partial.analyzer if options.flows == "all" else None)
    return report, exit_code(report, options.fail_on)
