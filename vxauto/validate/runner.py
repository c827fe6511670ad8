"""One validation run: getters through NAPALM drivers and probes from the hosts, at the same time.

Timeline (the probes dominate, so everything else overlaps them):

1. one thread per device opens its NAPALM driver and reads the getters its checks need;
2. meanwhile the main thread reads the endpoint MACs from the hosts and runs the `ping` and `mtu`
   probes, all in parallel (this traffic is also what makes the leaves learn the endpoint MACs);
3. once that traffic is done, the device threads read their MAC tables, re-reading for up to
   `settle` seconds while an endpoint MAC is still missing (EVPN type-2 routes take a moment to
   arrive), while the main thread runs the isolation probes;
4. the answers are compared with the expected state (`vxauto.validate.checks`).

Drivers: `napalm.get_network_driver(<platform's driver>)`, or the vxauto subclass with the VXLAN
getters for `eos`/`nxos`/`junos` (`vxauto.deploy.drivers.VXLAN_DRIVERS`); `frr` is the `napalm_frr`
package. Connection options come from the Nornir inventory (`connection_options: napalm:`, like
nornir-napalm) or, with a lab, from the lab API.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from vxauto.errors import VxautoError
from vxauto.model.fabric import Fabric
from vxauto.validate import checks as compare
from vxauto.validate.dataplane import (
    HostMacs,
    Shell,
    prime_endpoints,
    read_endpoint_macs,
    run_isolations,
    run_reachability,
)
from vxauto.validate.expected import Endpoint, ExpectedDevice, ExpectedState, expected_state
from vxauto.validate.models import vni_table_problems, vtep_table_problems

DEFAULT_SETTLE_S = 5.0
DEFAULT_TIMEOUT_S = 30
PROBE_WORKERS = 32
MAC_RETRY_INTERVAL_S = 0.5

CONTRACTS: dict[str, Callable[[object], list[str]]] = {
    compare.GET_VNIS: vni_table_problems,
    compare.GET_VTEPS: vtep_table_problems,
}


@dataclass(frozen=True)
class DriverParams:
    """How to open one device with NAPALM (the arguments of `NetworkDriver.__init__`)."""

    driver: str
    hostname: str
    username: str | None
    password: str | None
    optional_args: dict[str, Any] = field(default_factory=dict)
    timeout: int = DEFAULT_TIMEOUT_S


#: Device -> its NAPALM parameters; raises `VxautoError` when the device cannot be reached this way.
ParamsFor = Callable[[ExpectedDevice], DriverParams]


def driver_class(name: str) -> type:
    """The NAPALM driver class for a driver name; the vxauto subclasses where they add VXLAN getters."""
    if name in ("eos", "nxos", "nxos_ssh", "junos"):
        from vxauto.deploy.drivers import VXLAN_DRIVERS  # vendor libraries: import only when needed

        return VXLAN_DRIVERS[name]
    import napalm

    return napalm.get_network_driver(name)


def call_getter(driver: Any, name: str, driver_name: str) -> compare.Answer:
    """Run one getter; whatever goes wrong becomes an error naming the getter, never a value."""
    method = getattr(driver, name, None)
    if method is None:
        return compare.Answer(error=f"{name} is not implemented by the NAPALM driver {driver_name}")
    try:
        value = method()
    except NotImplementedError:
        return compare.Answer(error=f"{name} is not implemented by the NAPALM driver {driver_name}")
    except Exception as error:  # one getter failing must not stop the others
        return compare.Answer(error=f"{name} failed: {type(error).__name__}: {_one_line(error)}")
    problems = CONTRACTS[name](value) if name in CONTRACTS else []
    if problems:
        return compare.Answer(error=f"{name} broke the getter contract: {problems[0]}")
    return compare.Answer(value)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:300] + "..."


@dataclass
class DeviceRun:
    answers: dict[str, compare.Answer]
    seconds: float


class TrafficGate:
    """Lets the device threads wait until the probes have made the endpoints talk."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.host_macs = HostMacs({}, {})

    def open(self, host_macs: HostMacs | None = None) -> None:
        if host_macs is not None:
            self.host_macs = host_macs
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


def collect_device(
    device: ExpectedDevice,
    params_for: ParamsFor,
    state: ExpectedState,
    gate: TrafficGate,
    settle: float,
) -> DeviceRun:
    started = time.monotonic()
    getters = compare.needed_getters(device)
    wanted = [*getters, compare.GET_MACS] if device.is_vtep else getters
    if device.driver is None:
        error = f"platform {device.platform} has no NAPALM driver in vxauto (render only): nothing can be read"
        return DeviceRun({g: compare.Answer(error=error) for g in wanted}, 0.0)
    try:
        params = params_for(device)
        driver = driver_class(params.driver)(
            params.hostname, params.username, params.password, timeout=params.timeout,
            optional_args=dict(params.optional_args),
        )
        driver.open()
    except Exception as error:  # an unreachable device fails its own checks only
        text = f"cannot open {device.name} with NAPALM driver {device.driver}: {type(error).__name__}: " \
               f"{_one_line(error)}"
        return DeviceRun({g: compare.Answer(error=text) for g in wanted}, time.monotonic() - started)
    try:
        answers = {name: call_getter(driver, name, params.driver) for name in getters}
        if device.is_vtep:
            answers[compare.GET_MACS] = _settled_mac_table(driver, params.driver, device, state, gate, answers, settle)
    finally:
        with contextlib.suppress(Exception):  # closing a broken session must not hide the answers
            driver.close()
    return DeviceRun(answers, time.monotonic() - started)


def _settled_mac_table(
    driver: Any, driver_name: str, device: ExpectedDevice, state: ExpectedState, gate: TrafficGate,
    answers: Mapping[str, compare.Answer], settle: float,
) -> compare.Answer:
    gate.wait(timeout=600)
    vnis = answers.get(compare.GET_VNIS)
    vni_table = {int(k): v for k, v in vnis.value.items()} if vnis is not None and vnis.ok else None
    deadline = time.monotonic() + settle
    while True:
        answer = call_getter(driver, compare.GET_MACS, driver_name)
        if not answer.ok or not isinstance(answer.value, list):
            return answer
        complete = compare.macs_complete(device, state, gate.host_macs, answer.value, vni_table)
        if complete or time.monotonic() >= deadline:
            return answer
        time.sleep(MAC_RETRY_INTERVAL_S)


# --------------------------------------------------------------------------- the whole run


@dataclass
class ValidationRun:
    checks: list[compare.Check]
    timings: dict[str, float]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[compare.Check]:
        return [check for check in self.checks if not check.passed]


def _mac_endpoints(state: ExpectedState) -> list[Endpoint]:
    """Endpoints whose MAC a selected VTEP must have learned."""
    vnis = {vni for device in state.devices.values() for vni in device.vnis}
    return [endpoint for endpoint in state.endpoints if endpoint.vni in vnis]


def run_validation(
    fabric: Fabric,
    selected: Sequence[str] | None,
    shell: Shell,
    params_for: ParamsFor,
    workers: int = 8,
    settle: float = DEFAULT_SETTLE_S,
    probe_workers: int = PROBE_WORKERS,
) -> ValidationRun:
    """Validate the selected hosts of a fabric; every check, passed or failed, is in the result."""
    started = time.monotonic()
    state = expected_state(fabric, selected)
    if not state.devices and not state.probes:
        raise VxautoError.single("command line", "--hosts/--groups/--role/--platform",
                                 "the selection has nothing to validate (no VTEP, router or endpoint)")
    gate = TrafficGate()
    timings: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(state.devices) or 1))) as pool:
        futures: dict[str, Future[DeviceRun]] = {
            name: pool.submit(collect_device, device, params_for, state, gate, settle)
            for name, device in state.devices.items()
        }
        try:
            probe_results, isolation_results, host_macs = _data_plane(shell, state, gate, probe_workers, timings)
        finally:
            gate.open()  # never leave a device thread waiting, whatever happened here
        runs = {name: future.result() for name, future in futures.items()}
    checks: list[compare.Check] = []
    for name, device in state.devices.items():
        checks += compare.device_checks(device, runs[name].answers, state, host_macs)
    checks += compare.probe_checks([*probe_results, *isolation_results], state.overlay_mtu)
    timings["devices_max"] = max((run.seconds for run in runs.values()), default=0.0)
    timings["total"] = time.monotonic() - started
    return ValidationRun(checks, timings)


def _data_plane(
    shell: Shell, state: ExpectedState, gate: TrafficGate, workers: int, timings: dict[str, float]
) -> tuple[list, list, HostMacs]:
    mac_endpoints = _mac_endpoints(state)
    probe_endpoints = [e for p in state.probes for e in (p.source, p.target)]
    needed = list(dict.fromkeys([*probe_endpoints, *mac_endpoints]))
    clock = time.monotonic()
    host_macs = read_endpoint_macs(shell, needed, workers) if needed else HostMacs({}, {})
    timings["host_macs"] = time.monotonic() - clock
    clock = time.monotonic()
    reachability = run_reachability(shell, state.probes, workers)
    talked = {e for p in state.probes if p.kind == "ping" for e in (p.source, p.target)}
    prime_endpoints(shell, [e for e in mac_endpoints if e not in talked], state, workers)
    timings["reachability"] = time.monotonic() - clock
    gate.open(host_macs)
    clock = time.monotonic()
    isolation = run_isolations(shell, state, state.probes, workers)
    timings["isolation"] = time.monotonic() - clock
    return reachability, isolation, host_macs
