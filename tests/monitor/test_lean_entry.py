"""The lean entry of `vxauto monitor pcap` (monitor_pcap.fast_main) takes a command line exactly as Typer
does, or leaves it to Typer; and a plain `monitor pcap` run imports no Typer (nor Rich with --json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.monitor.packets import write_pcap
from tests.monitor.test_checks import clean_traffic
from vxauto.cli import monitor_app
from vxauto.cli.monitor_pcap import PcapOptions, parse_pcap_args

COMMAND_LINES = [
    ["a.pcap"],
    ["a.pcap", "b.pcap", "--json"],
    ["--json", "a.pcap", "-i", "inv", "--csv", "f.csv", "--html=r.html", "dir"],
    ["a.pcap", "--ports", "4789,8472", "--bum-pps", "12.5", "--keep-going", "--prometheus", "0"],
    ["a.pcap", "--ipfix", "127.0.0.1:4739", "--fail-on", "warning", "--flows=all", "--max-flows", "7"],
    ["a.pcap", "--scheduler", "tcp://10.0.0.5:8786", "--workers", "2", "--dedup-window", "0.5"],
    ["a.pcap", "--flows", "5", "--flows", "6", "--inventory", "x", "-i", "y"],  # the last one counts
    ["--", "-odd-name.pcap", "--json"],
    ["a.pcap", "--flows", "x", "--fail-on", "bad", "--ports", "1,,2"],  # bad values for run_pcap, not for parsing
    ["a.pcap", "--max-flows", " 12", "--bum-pps", "1e3"],
]
#: Command lines Typer answers itself (help, usage errors, forms the lean parser does not take).
LEFT_TO_TYPER = [
    [], ["--help"], ["a.pcap", "--help"], ["a.pcap", "--bogus"], ["a.pcap", "--workers", "two"],
    ["a.pcap", "--json=yes"], ["a.pcap", "-ix"], ["a.pcap", "-i=x"], ["a.pcap", "--csv"], ["--json"],
    ["a.pcap", "--flows", "-5"], ["-", "a.pcap"],
]


def typer_options(args: list[str], monkeypatch: pytest.MonkeyPatch) -> PcapOptions:
    """What Typer hands to the command body for `pcap ARGS`."""
    seen: list[PcapOptions] = []

    def record(options: PcapOptions) -> tuple[object, int]:
        seen.append(options)
        raise SystemExit(0)

    monkeypatch.setattr(monitor_app, "run_pcap", record)
    result = CliRunner().invoke(monitor_app.app, ["pcap", *args])
    assert len(seen) == 1, result.output
    return seen[0]


@pytest.mark.parametrize("args", COMMAND_LINES)
def test_lean_parser_gives_typers_values(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_pcap_args(args) == typer_options(args, monkeypatch)


@pytest.mark.parametrize("args", LEFT_TO_TYPER)
def test_unusual_command_lines_go_to_typer(args: list[str]) -> None:
    assert parse_pcap_args(args) is None


def test_a_plain_run_imports_no_typer_and_gives_typers_report(tmp_path: Path) -> None:
    capture = tmp_path / "c.pcap"
    write_pcap(capture, [(float(p.time), bytes(p)) for p in clean_traffic()])
    probe = ("import atexit, sys, runpy; atexit.register(lambda: print(sorted(m for m in ('typer', 'rich', "
             "'pydantic') if m in sys.modules), file=sys.stderr)); sys.argv = ['vxauto', 'monitor', 'pcap', "
             f"{str(capture)!r}, '--json']; from vxauto.cli.main import main; main()")
    lean = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert lean.stderr.strip().splitlines()[-1] == "[]"
    tables = subprocess.run([sys.executable, "-c", probe.replace(", '--json']", "]")], capture_output=True, text=True,
                            check=True)
    assert tables.stderr.strip().splitlines()[-1] == "['rich']" and "Per VNI" in tables.stdout
    # Positive control: the same probe running the Typer app itself sees Typer loaded; the report is the same.
    full = subprocess.run([sys.executable, "-c", probe.replace("from vxauto.cli.main import main; main()",
                                                               "from vxauto.cli.app import app; app()")],
                          capture_output=True, text=True, check=False)
    assert full.returncode == 0, full.stderr
    assert "typer" in full.stderr.strip().splitlines()[-1]
    assert json.loads(lean.stdout) == json.loads(full.stdout)
