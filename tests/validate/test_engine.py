"""The validation engine: it waits for convergence with a deadline, re-reads only what failed, records when
each check first passed and which flapped, and never counts silence as isolation without a positive control.

Devices are doubles that replay getter answers recorded from the lab (tests/fixtures/frr/lab-capture), one
recorded scenario per read, so a device can be "converging" (a fault scenario first, then healthy). The
hosts' commands run in a real shell whose `ping` and `ip` are small scripts on PATH: the engine's own
probe and control scripts run unchanged, and the test decides which pings answer.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.validate.recorded import CAPTURE, captured_fabric, recorded_answers, scenario_dir
from vxauto.validate import checks
from vxauto.validate.convergence import DriverParams, ValidationRun, run_validation
from vxauto.validate.dataplane import CommandResult
from vxauto.validate.expected import ExpectedDevice, expected_state

pytestmark = pytest.mark.skipif(not CAPTURE.exists(), reason="no lab capture")

GETTERS = (checks.GET_VNIS, checks.GET_VTEPS, checks.GET_BGP, checks.GET_INTERFACES, checks.GET_INTERFACES_IP,
           checks.GET_MACS)

FAKE_PING = """#!/bin/sh
# answers when "<node> <target>" is listed in $PROBE_STATE/reachable
for target; do :; done
grep -qx "$NODE $target" "$PROBE_STATE/reachable" 2>/dev/null && exit 0
exit 1
"""
FAKE_IP = """#!/bin/sh
# `ip -j link show` from the recorded host; every other ip command (addresses, route cache) succeeds
if [ "$*" = "-j link show" ]; then cat "$RECORDED/$NODE/ip_-j_link_show.json"; fi
exit 0
"""


class ReplayDriver:
    """NAPALM-shaped: `open`, `close` and the getters, answering from one recorded scenario per read."""

    def __init__(self, node: str, script: list[str], calls: Counter[tuple[str, str]]) -> None:
        self.node, self.script, self.calls = node, script, calls

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __getattr__(self, getter: str) -> Callable[[], Any]:
        if getter not in GETTERS:
            raise AttributeError(getter)

        def read() -> Any:
            done = self.calls[(self.node, getter)]
            self.calls[(self.node, getter)] += 1
            answer = recorded_answers(self.script[min(done, len(self.script) - 1)], self.node)[getter]
            if not answer.ok:
                raise ConnectionError(answer.error)
            return answer.value

        return read


class ScriptShell:
    """Runs the engine's host commands in `sh` with the fake `ping`/`ip` first on PATH."""

    def __init__(self, work: Path) -> None:
        self.bin = work / "bin"
        self.bin.mkdir()
        for name, text in (("ping", FAKE_PING), ("ip", FAKE_IP)):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.state = work / "probe-state"
        self.state.mkdir()
        self.reachable = self.state / "reachable"
        self.reachable.write_text("")

    def run(self, node: str, command: str, timeout: float = 20.0) -> CommandResult:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}", "NODE": node,
               "PROBE_STATE": str(self.state), "RECORDED": str(scenario_dir("healthy"))}
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env, timeout=timeout,
                              check=False)
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def overlay_up(self) -> None:
        """Every endpoint reaches the endpoints of its own segment (and nothing else)."""
        state = expected_state(captured_fabric())
        pairs = {f"{a.node} {b.ip}" for a in state.endpoints for b in state.endpoints
                 if a.vni == b.vni and a.node != b.node}
        self.reachable.write_text("".join(f"{pair}\n" for pair in sorted(pairs)))


def validate(shell: ScriptShell, scripts: dict[str, list[str]], wait: float,
             calls: Counter[tuple[str, str]] | None = None, opens: Callable[[str], None] | None = None,
             ) -> ValidationRun:
    """Validate the captured fabric; `scripts`: node -> recorded scenarios per read (default: healthy)."""
    counted: Counter[tuple[str, str]] = Counter() if calls is None else calls

    def params_for(device: ExpectedDevice) -> DriverParams:
        return DriverParams("replay", device.name, None, None)

    def factory(params: DriverParams) -> ReplayDriver:
        if opens is not None:
            opens(params.hostname)
        return ReplayDriver(params.hostname, scripts.get(params.hostname, ["healthy"]), counted)

    return run_validation(captured_fabric(), None, shell, params_for, wait=wait, factory=factory)


def by_name(run: ValidationRun) -> dict[tuple[str, str], checks.Check]:
    return {(c.host, c.check): c for c in run.checks}


@pytest.fixture
def shell(tmp_path: Path) -> ScriptShell:
    return ScriptShell(tmp_path)


def test_waits_for_convergence_and_rereads_only_what_failed(shell: ScriptShell) -> None:
    shell.overlay_up()
    calls: Counter[tuple[str, str]] = Counter()
    run = validate(shell, {"leaf1": ["vni-removed", "healthy"]}, wait=30, calls=calls)
    assert run.passed, [(c.host, c.check, c.actual) for c in run.failed]
    assert run.rounds == 2 and run.converged_s is not None
    found = by_name(run)
    late, early = found[("leaf1", "vni 10020 map")], found[("leaf1", "bgp 10.1.1.0 (spine1)")]
    assert late.first_passed_s is not None and early.first_passed_s is not None
    assert late.first_passed_s > early.first_passed_s  # it converged one round later
    # round 2 re-read leaf1's VNI table and nothing of the devices whose checks all passed
    assert calls[("leaf1", checks.GET_VNIS)] == 2
    assert calls[("leaf1", checks.GET_BGP)] == 1
    assert all(count == 1 for (node, _), count in calls.items() if node.startswith("spine"))


def test_wait_zero_takes_one_snapshot(shell: ScriptShell) -> None:
    shell.overlay_up()
    run = validate(shell, {"leaf1": ["vni-removed", "healthy"]}, wait=0)
    assert not run.passed and run.rounds == 1 and run.converged_s is None
    assert ("leaf1", "vni 10020 map") in {(c.host, c.check) for c in run.failed}


def test_a_check_that_passed_and_then_failed_is_flapping(shell: ScriptShell) -> None:
    """leaf1's VNI table: 10010 there but 10020 missing, then 10010 remapped away, then healthy."""
    shell.overlay_up()
    run = validate(shell, {"leaf1": ["vni-removed", "wrong-vni", "healthy"]}, wait=30)
    assert run.passed and run.rounds == 3
    found = by_name(run)
    assert found[("leaf1", "vni 10010 map")].flapping
    assert not found[("leaf1", "vni 10020 map")].flapping
    assert not found[("spine1", "bgp 10.1.1.1 (leaf1)")].flapping


def test_isolation_without_a_positive_control_is_inconclusive_and_fails(shell: ScriptShell) -> None:
    """Nothing answers (as with every VXLAN device deleted): silence toward other segments proves nothing."""
    run = validate(shell, {}, wait=0)
    isolation = [c for c in run.checks if c.kind == "isolation"]
    assert isolation and not any(c.passed for c in isolation)
    assert all(c.actual.startswith("inconclusive: positive control failed:") for c in isolation)
    assert "does not reach its own segment" in isolation[0].actual


def test_isolation_passes_only_with_its_control_reached(shell: ScriptShell) -> None:
    shell.overlay_up()
    run = validate(shell, {}, wait=0)
    isolation = [c for c in run.checks if c.kind == "isolation"]
    assert isolation and all(c.passed for c in isolation), [c.actual for c in isolation if not c.passed]
    h1 = next(c for c in isolation if c.host == "h1")
    assert "control: reached h2" in h1.actual


def test_a_leak_fails_isolation_even_with_the_control_reached(shell: ScriptShell) -> None:
    shell.overlay_up()
    with shell.reachable.open("a") as reachable:
        reachable.write("h1 10.20.30.3\n")  # h1 answers... from tenant blue's h3: a leak
    run = validate(shell, {}, wait=0)
    leak = by_name(run)[("h1", "isolation red-web -x- blue-web: h3 10.20.30.3")]
    assert not leak.passed and leak.actual.startswith("REPLY: segments leak")


def test_failed_probes_are_repeated_within_the_deadline(shell: ScriptShell, tmp_path: Path) -> None:
    """The overlay comes up while validate runs (the ping double brings it up on its 20th call)."""
    counter = tmp_path / "pings"
    shell.overlay_up()
    converged = shell.reachable.read_text()
    shell.reachable.write_text("")
    (shell.bin / "ping").write_text(FAKE_PING.replace("for target", (
        f"echo x >> {shlex.quote(str(counter))}\n"
        f"[ $(wc -l < {shlex.quote(str(counter))}) -ge 20 ] && printf %s {shlex.quote(converged)} "
        f"> \"$PROBE_STATE/reachable\"\nfor target")))
    run = validate(shell, {}, wait=30)
    assert run.passed and run.rounds >= 2, [(c.host, c.check, c.actual) for c in run.failed]
    pings = [c for c in run.checks if c.kind == "ping"]
    assert max(c.first_passed_s or 0 for c in pings) > min(c.first_passed_s or 0 for c in run.checks)


def test_a_device_that_cannot_be_opened_is_opened_again_in_the_next_round(shell: ScriptShell) -> None:
    shell.overlay_up()
    attempts: Counter[str] = Counter()

    def opens(node: str) -> None:
        attempts[node] += 1
        if node == "spine2" and attempts[node] == 1:
            raise ConnectionRefusedError("sshd is restarting")

    run = validate(shell, {}, wait=30, opens=opens)
    assert run.passed and attempts["spine2"] == 2 and attempts["spine1"] == 1


def test_unreachable_devices_fail_at_the_deadline_naming_the_cause(shell: ScriptShell) -> None:
    shell.overlay_up()

    def opens(node: str) -> None:
        if node == "leaf4":
            raise TimeoutError("timed out")

    run = validate(shell, {}, wait=0, opens=opens)
    leaf4 = [c for c in run.checks if c.host == "leaf4"]
    assert leaf4 and not any(c.passed for c in leaf4)
    assert all("cannot open leaf4 with NAPALM driver frr: TimeoutError: timed out" in c.actual for c in leaf4)


def test_pings_fail_when_nothing_answers(shell: ScriptShell) -> None:
    run = validate(shell, {}, wait=0)
    probes = [c for c in run.checks if c.check.startswith(("ping ", "mtu-ping "))]
    assert {c.check.split()[0] for c in probes} == {"ping", "mtu-ping"}
    assert probes and not any(c.passed for c in probes)
    assert all(c.actual.startswith("no reply") for c in probes)
