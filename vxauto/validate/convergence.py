"""The validation engine: getters through NAPALM drivers and probes from the hosts, until converged.

A fabric that was just deployed is still converging (BGP sessions opening, EVPN routes arriving, MACs
being learned), so one snapshot says little. The engine waits the way a network engineer would, but with
a deadline and a record of how long it took:

1. round 0 reads every getter the checks declare (`vxauto.validate.checks.CHECK_KINDS`, and the fabric-wide
   `FABRIC_CHECK_KINDS`, judged across devices), one NAPALM session per device kept open for the whole
   run, while the main thread reads the endpoint MACs from
   the hosts and runs the `ping` and `mtu` probes (this traffic is also what makes the leaves learn the
   endpoint MACs); then the MAC tables are read while the isolation probes run;
2. every check is evaluated;
3. while a check fails and the deadline (`wait` seconds from the start) has not passed, the next round
   re-reads only the getters of the failing check kinds on the devices where they fail (those of a failing
   fabric-wide kind on every device it judges), re-runs only the failed probes (an isolation session with
   its positive control), and evaluates again;
4. each check keeps the time it first passed (its time to converge) and whether it passed and then
   failed (flapping); the final verdict is its last evaluation.

`wait=0` takes one snapshot. Data-plane probes are repeated within the same deadline.

Drivers: the class `vxauto.devices.registry.driver_class` gives for the platform's driver name (the
vxauto subclass with the VXLAN getters for `eos`/`nxos`/`junos`, NAPALM's lookup otherwise; `frr` is the
`napalm_frr` package). Connection options come from the Nornir inventory (`connection_options: napalm:`, like
nornir-napalm) or, with a lab, from the lab API.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from vxauto.devices.access import DriverParams, napalm_driver
from vxauto.devices.contract import vni_table_problems, vtep_table_problems
from vxauto.errors import VxautoError
from vxauto.model.fabric import Fabric
from vxauto.validate import checks as compare
from vxauto.validate.dataplane import (
    HostMacs,
    ProbeResult,
    Shell,
    forget_path_mtus,
    plan_isolation,
    pool_map,
    prime_endpoints,
    read_endpoint_macs,
    run_isolation,
    run_positive,
)
from vxauto.validate.expected import Endpoint, ExpectedDevice, ExpectedState, Probe, expected_state

#: Long enough for a freshly deployed fabric on a loaded machine (BGP open, EVPN routes, MAC learning);
#: a green fabric returns as soon as every check passes, so only a broken one waits this long.
DEFAULT_WAIT_S = 60.0
PROBE_WORKERS = 32
#: Pause between rounds: re-reading getters faster only loads the devices while routes propagate.
POLL_INTERVAL_S = 1.0

T = TypeVar("T")

CONTRACTS: dict[str, Callable[[object], list[str]]] = {
    compare.GET_VNIS: vni_table_problems,
    compare.GET_VTEPS: vtep_table_problems,
}


#: Device -> its NAPALM parameters; raises `VxautoError` when the device cannot be reached this way.
ParamsFor = Callable[[ExpectedDevice], DriverParams]


#: Parameters -> a driver object with NAPALM's `open`/`close` and getters (NAPALM's own by default).
DriverFactory = Callable[[DriverParams], Any]


def _call(driver: Any, name: str, driver_name: str) -> tuple[compare.Answer, bool]:
    """One getter's answer, and whether the session broke (an exception other than "not implemented")."""
    method = getattr(driver, name, None)
    if method is None:
        return compare.Answer(error=f"{name} is not implemented by the NAPALM driver {driver_name}"), False
    try:
        value = method()
    except NotImplementedError:
        return compare.Answer(error=f"{name} is not implemented by the NAPALM driver {driver_name}"), False
    except Exception as error:  # one getter failing must not stop the others
        return compare.Answer(error=f"{name} failed: {type(error).__name__}: {_one_line(error)}"), True
    problems = CONTRACTS[name](value) if name in CONTRACTS else []
    if problems:
        return compare.Answer(error=f"{name} broke the getter contract: {problems[0]}"), False
    return compare.Answer(value), False


def call_getter(driver: Any, name: str, driver_name: str) -> compare.Answer:
    """Run one getter; whatever goes wrong becomes an error naming the getter, never a value."""
    return _call(driver, name, driver_name)[0]


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:300] + "..."


class DeviceReader:
    """One device's NAPALM session for a whole run: opened on first use, opened again after it broke
    (a device that was restarting answers in a later round)."""

    def __init__(self, device: ExpectedDevice, params_for: ParamsFor, factory: DriverFactory = napalm_driver) -> None:
        self.device = device
        self.params_for = params_for
        self.factory = factory
        self._driver: Any = None
        self._driver_name = device.driver or ""
        self.seconds = 0.0
        #: Why the latest attempt to open the device failed; None once it is open.
        self.open_error: str | None = None

    def read(self, getters: Sequence[str]) -> dict[str, compare.Answer]:
        started = time.monotonic()
        try:
            return self._read(getters)
        finally:
            self.seconds += time.monotonic() - started

    def _read(self, getters: Sequence[str]) -> dict[str, compare.Answer]:
        if not getters:
            return {}
        if self.device.driver is None:
            error = (f"platform {self.device.platform} has no NAPALM driver in vxauto (render only): "
                     "nothing can be read")
            return {g: compare.Answer(error=error) for g in getters}
        if self._driver is None:
            opened = self._open()
            if opened is not None:
                return {g: compare.Answer(error=opened) for g in getters}
        answers: dict[str, compare.Answer] = {}
        broken = False
        for getter in getters:
            answers[getter], failed = _call(self._driver, getter, self._driver_name)
            broken = broken or failed
        if broken:  # the next round starts from a fresh session
            self.close()
        return answers

    def _open(self) -> str | None:
        """Open the driver; None when it worked, else the reason (an unreachable device fails its own checks)."""
        try:
            params = self.params_for(self.device)
            self._driver_name = params.driver
            driver = self.factory(params)
            driver.open()
        except Exception as error:
            self.open_error = f"{type(error).__name__}: {_one_line(error)}"
            return f"cannot open {self.device.name} with NAPALM driver {self.device.driver}: {self.open_error}"
        self._driver = driver
        self.open_error = None
        return None

    def close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            with contextlib.suppress(Exception):  # closing a broken session must not hide the answers
                driver.close()


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class _History:
    first_passed_s: float | None = None
    flapping: bool = False
    last_passed: bool = False


class Ledger:
    """Every check's history across rounds: when it first passed, whether it flapped."""

    def __init__(self, started: float) -> None:
        self.started = started
        self._history: dict[tuple[str, str], _History] = {}

    def record(self, observed: Iterable[tuple[compare.Check, float]]) -> list[compare.Check]:
        """Stamp each check (with the moment its evidence was observed) with its history so far."""
        stamped = []
        for check, seen_at in observed:
            history = self._history.setdefault((check.host, check.check), _History())
            if check.passed and history.first_passed_s is None:
                history.first_passed_s = round(seen_at - self.started, 3)
            if history.last_passed and not check.passed:
                history.flapping = True
            history.last_passed = check.passed
            stamped.append(replace(check, first_passed_s=history.first_passed_s, flapping=history.flapping))
        return stamped


@dataclass
class ValidationRun:
    checks: list[compare.Check]
    timings: dict[str, float]
    #: Evaluation rounds taken (1 = one snapshot).
    rounds: int = 1
    #: The deadline the run had, in seconds from its start.
    wait_s: float = 0.0
    #: Seconds from the start until every check passed at once; None when that never happened.
    converged_s: float | None = None
    #: Host -> why it could not be reached at the end of the run (NAPALM open or SSH for probes).
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[compare.Check]:
        return [check for check in self.checks if not check.passed]

    def convergence(self) -> dict[str, float | None]:
        """Median and worst time to converge over the checks that passed."""
        times = [c.first_passed_s for c in self.checks if c.passed and c.first_passed_s is not None]
        return {
            "converged_s": self.converged_s,
            "median_check_s": round(statistics.median(times), 3) if times else None,
            "worst_check_s": max(times) if times else None,
        }


def _mac_endpoints(state: ExpectedState) -> list[Endpoint]:
    """Endpoints whose MAC a selected VTEP must have learned."""
    vnis = {vni for device in state.devices.values() for vni in device.vnis}
    return [endpoint for endpoint in state.endpoints if endpoint.vni in vnis]


# --------------------------------------------------------------------------- the engine


class Engine:
    """The rounds of one validation run (see the module docstring)."""

    def __init__(self, state: ExpectedState, shell: Shell, params_for: ParamsFor, workers: int,
                 probe_workers: int, factory: DriverFactory = napalm_driver) -> None:
        self.state, self.shell = state, shell
        self.readers = {name: DeviceReader(device, params_for, factory) for name, device in state.devices.items()}
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(state.devices) or 1)))
        self.probe_workers = probe_workers
        self.answers: dict[str, dict[str, compare.Answer]] = {name: {} for name in state.devices}
        #: (device, getter) -> when its latest answer arrived; a check's evidence is as new as its inputs.
        self.read_at: dict[tuple[str, str], float] = {}
        #: (device, check kind) -> the checks of its latest evaluation.
        self.device_results: dict[tuple[str, str], list[compare.Check]] = {}
        #: Fabric-wide check kind -> the checks of its latest evaluation (judged across devices).
        self.fabric_results: dict[str, list[compare.Check]] = {}
        self.positive: dict[Probe, ProbeResult] = {}
        #: Probe -> when its latest result arrived; isolation session index -> likewise.
        self.probed_at: dict[Probe, float] = {}
        self.isolated_at: dict[int, float] = {}
        sessions, impossible = plan_isolation(state, [p for p in state.probes if p.kind == "isolation"])
        self.sessions = sessions
        self.impossible = impossible
        self.isolation: dict[int, list[ProbeResult]] = {}
        self.mac_endpoints = _mac_endpoints(state)
        self.host_macs = HostMacs({}, {})
        self.timings: dict[str, float] = {}

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for reader in self.readers.values():
            reader.close()

    # ----------------------------------------------------------------- one round

    def round(self, first: bool) -> None:
        """Read what is needed, probe what failed, evaluate what was re-read."""
        early = {name: self._getters_to_read(name, first, after_traffic=False) for name in self.readers}
        futures = {name: self.pool.submit(self._read, name, getters) for name, getters in early.items() if getters}
        self._timed("host_macs", lambda: self._read_host_macs(first))
        self._timed("reachability", lambda: self._positive_probes(first))
        for future in futures.values():
            future.result()
        late = {name: self._getters_to_read(name, first, after_traffic=True) for name in self.readers}
        futures = {name: self.pool.submit(self._read, name, getters) for name, getters in late.items() if getters}
        self._timed("isolation", lambda: self._isolation_probes(first))
        for future in futures.values():
            future.result()
        self._evaluate({*_read_pairs(early, late)})

    def _read(self, name: str, getters: list[str]) -> None:
        self.answers[name].update(self.readers[name].read(getters))
        now = time.monotonic()
        for getter in getters:
            self.read_at[(name, getter)] = now

    def _timed(self, key: str, action: Callable[[], None]) -> None:
        clock = time.monotonic()
        action()
        self.timings[key] = self.timings.get(key, 0.0) + time.monotonic() - clock

    def _failing_kinds(self, name: str) -> list[compare.CheckKind]:
        device = self.state.devices[name]
        return [kind for kind in compare.kinds_for(device)
                if any(not c.passed for c in self.device_results.get((name, kind.name), []))]

    def _getters_to_read(self, name: str, first: bool, after_traffic: bool) -> list[str]:
        if first:
            wanted = compare.needed_getters(self.state.devices[name], after_traffic=after_traffic)
        else:
            wanted = compare.getters_of(self._failing_kinds(name), after_traffic=after_traffic)
        if after_traffic:  # fabric-wide kinds read with the device's first getters
            return wanted
        # a fabric-wide kind that fails is re-read on every device it judges: the fix may be anywhere
        fabric = [kind for kind in compare.fabric_kinds_for(self.state, name)
                  if first or any(not c.passed for c in self.fabric_results.get(kind.name, []))]
        return list(dict.fromkeys([*wanted, *(g for kind in fabric for g in kind.getters)]))

    def _read_host_macs(self, first: bool) -> None:
        probe_endpoints = [e for p in self.state.probes for e in (p.source, p.target)]
        needed = list(dict.fromkeys([*probe_endpoints, *self.mac_endpoints]))
        if not first:  # only what could not be read before
            needed = [e for e in needed if self.host_macs.of(e) is None]
        if not needed:
            return
        fresh = read_endpoint_macs(self.shell, needed, self.probe_workers)
        # every node with an unread MAC was asked again, so its latest error (if any) is in `fresh`
        self.host_macs = HostMacs({**self.host_macs.macs, **fresh.macs}, fresh.errors)

    def _positive_probes(self, first: bool) -> None:
        chosen = [p for p in self.state.probes if p.kind in ("ping", "mtu")
                  and (first or not self.positive[p].passed)]
        forget_path_mtus(self.shell, [p.source.node for p in chosen if p.kind == "mtu"], self.probe_workers)
        for probe, (result, seen_at) in zip(chosen, self._map(lambda p: _stamped(run_positive, self.shell, p),
                                                              chosen), strict=True):
            self.positive[probe] = result
            self.probed_at[probe] = seen_at
        self._prime_unheard(first)

    def _prime_unheard(self, first: bool) -> None:
        """Endpoints no ping probe made talk (hosts not selected), or whose MAC some leaf still misses,
        send a frame so that the leaves learn their MACs."""
        talked = {e for p in self.state.probes if p.kind == "ping" for e in (p.source, p.target)}
        if first:
            quiet = [e for e in self.mac_endpoints if e not in talked]
        else:
            missing = {c.check for results in self.device_results.values() for c in results
                       if c.kind == "mac" and not c.passed}
            quiet = [e for e in self.mac_endpoints if any(f"mac {e.node} {e.interface} " in m for m in missing)]
        prime_endpoints(self.shell, quiet, self.state, self.probe_workers)

    def _isolation_probes(self, first: bool) -> None:
        chosen = [(index, session) for index, session in enumerate(self.sessions)
                  if first or not all(r.passed for r in self.isolation[index])]
        results = self._map(lambda item: _stamped(run_isolation, self.shell, item[1]), chosen)
        for (index, _), (result, seen_at) in zip(chosen, results, strict=True):
            self.isolation[index] = result
            self.isolated_at[index] = seen_at

    def _map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return pool_map(function, items, self.probe_workers)

    def _evaluate(self, refreshed: set[tuple[str, str]]) -> None:
        """Evaluate the check kinds whose getters were just read (all of them in round 0)."""
        context = compare.Context(self.state, self.host_macs)
        for name, device in self.state.devices.items():
            for kind in compare.kinds_for(device):
                stale = any((name, getter) in refreshed for getter in kind.getters)
                # the MAC check also reads the hosts' MACs, which any round may have completed
                if (name, kind.name) in self.device_results and not stale and not kind.after_traffic:
                    continue
                self.device_results[(name, kind.name)] = kind.evaluate(device, self.answers[name], context)
        for fabric_kind in compare.FABRIC_CHECK_KINDS:
            judged = fabric_kind.devices(self.state)
            if judged and (fabric_kind.name not in self.fabric_results
                           or any((name, g) in refreshed for name in judged for g in fabric_kind.getters)):
                self.fabric_results[fabric_kind.name] = fabric_kind.evaluate(self.state, self.answers)

    # ----------------------------------------------------------------- results

    def observed(self, now: float) -> list[tuple[compare.Check, float]]:
        """Every check of the latest evaluation, with when its newest input was observed."""
        found: list[tuple[compare.Check, float]] = []
        for name, device in self.state.devices.items():
            for kind in compare.kinds_for(device):
                seen_at = max((self.read_at.get((name, g), now) for g in kind.getters), default=now)
                found += [(check, seen_at) for check in self.device_results.get((name, kind.name), [])]
        for fabric_kind in compare.FABRIC_CHECK_KINDS:
            judged = fabric_kind.devices(self.state)
            seen_at = max((self.read_at.get((name, g), now) for name in judged for g in fabric_kind.getters),
                          default=now)
            found += [(check, seen_at) for check in self.fabric_results.get(fabric_kind.name, [])]
        mtu = self.state.overlay_mtu
        for probe in self.state.probes:
            if probe in self.positive:
                found.append((compare.probe_checks([self.positive[probe]], mtu)[0], self.probed_at[probe]))
        found += [(check, now) for check in compare.probe_checks(self.impossible, mtu)]
        for index in range(len(self.sessions)):
            seen_at = self.isolated_at.get(index, now)
            found += [(check, seen_at) for check in compare.probe_checks(self.isolation.get(index, []), mtu)]
        return found


def _stamped(function: Callable[[Shell, Any], T], shell: Shell, item: Any) -> tuple[T, float]:
    """Run a probe and note when its answer arrived."""
    result = function(shell, item)
    return result, time.monotonic()


def _read_pairs(early: dict[str, list[str]], late: dict[str, list[str]]) -> Iterable[tuple[str, str]]:
    """(device, getter) pairs read in this round."""
    for table in (early, late):
        for name, getters in table.items():
            for getter in getters:
                yield name, getter


def run_validation(
    fabric: Fabric,
    selected: Sequence[str] | None,
    shell: Shell,
    params_for: ParamsFor,
    workers: int = 8,
    wait: float = DEFAULT_WAIT_S,
    probe_workers: int = PROBE_WORKERS,
    factory: DriverFactory = napalm_driver,
) -> ValidationRun:
    """Validate the selected hosts of a fabric until every check passes or `wait` seconds have passed;
    every check, passed or failed, is in the result with its time to converge."""
    started = time.monotonic()
    state = expected_state(fabric, selected)
    if not state.devices and not state.probes:
        raise VxautoError.single("command line", "--hosts/--groups/--role/--platform",
                                 "the selection has nothing to validate (no VTEP, router or endpoint)")
    deadline = started + wait
    ledger = Ledger(started)
    engine = Engine(state, shell, params_for, workers, probe_workers, factory)
    rounds = 0
    converged: float | None = None
    try:
        while True:
            engine.round(first=rounds == 0)
            rounds += 1
            checks = ledger.record(engine.observed(time.monotonic()))
            if checks and all(check.passed for check in checks):
                converged = round(time.monotonic() - started, 3)
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(POLL_INTERVAL_S, remaining))
    finally:
        engine.close()
    unreachable = {name: reader.open_error for name, reader in engine.readers.items() if reader.open_error}
    shell_failures: Callable[[], dict[str, str]] | None = getattr(shell, "unreachable", None)
    if shell_failures is not None:
        unreachable.update({node: text for node, text in shell_failures().items() if node not in unreachable})
    timings = dict(engine.timings)
    timings["devices_max"] = max((reader.seconds for reader in engine.readers.values()), default=0.0)
    timings["total"] = time.monotonic() - started
    return ValidationRun(checks, timings, rounds=rounds, wait_s=wait, converged_s=converged,
                         unreachable=dict(sorted(unreachable.items())))

