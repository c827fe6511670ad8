"""Recorded VXLAN getter cases and the device doubles that replay them (NAPALM's mocked-data idea).

A case is `tests/getters/<platform>/<case>/`:
- `case.json`: which driver, its optional args, and `replies`: for every command the driver sends,
  the input file in the case directory and its format (`suzieq-record`: one suzieq poller record,
  the device output is its `data`; `text`: the file is the device output itself); for pyvtep, whose
  driver asks its management API, `api <op>` names the reply line pyvtep sent for that request;
- the input files: symlinks to the real captures in `tests/fixtures/` (attribution lives there);
- `expected_result.json`: `{"get_vxlan_vnis": ..., "get_vxlan_vteps": ...}` as read by a person from
  the capture (JSON object keys are strings; VNI keys are compared as ints).

The doubles stand in for the transport only (pyeapi node, NX-API client, Netmiko session, PyEZ
device): the real NAPALM driver subclass and the real parsers run on top. A command the case has no
reply for fails the test, so a case also pins down which commands each driver sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jnpr.junos.exception import JSONLoadError

from vxauto.devices.drivers import VXLAN_DRIVERS
from vxauto.devices.napalm_frr.remote import Completed
from vxauto.devices.napalm_pyvtep.driver import PyvtepDriver
from vxauto.devices.napalm_pyvtep.link import PyvtepLink
from vxauto.devices.parsers import frr
from vxauto.devices.parsers.replies import Reply

CASES_ROOT = Path(__file__).parent
GETTERS = ("get_vxlan_vnis", "get_vxlan_vteps")
HOSTNAME = "recorded"


@dataclass
class Case:
    platform: str
    name: str
    path: Path
    spec: dict[str, Any]
    asked: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.platform}/{self.name}"

    @property
    def expected(self) -> dict[str, Any]:
        return json.loads((self.path / "expected_result.json").read_text())

    def output(self, command: str) -> object:
        """What the device printed for `command` (the driver's transport view)."""
        replies = self.spec["replies"]
        if command not in replies:
            raise AssertionError(f"{self.id}: the driver sent {command!r}, the case has replies for {sorted(replies)}")
        self.asked.append(command)
        entry = replies[command]
        raw = (self.path / entry["file"]).read_text()
        if entry["format"] == "suzieq-record":
            return json.loads(raw)["data"]
        if entry["format"] == "text":
            return raw
        raise AssertionError(f"{self.id}: unknown reply format {entry['format']!r}")


def all_cases() -> list[Case]:
    return [
        Case(path.parent.parent.name, path.parent.name, path.parent, json.loads(path.read_text()))
        for path in sorted(CASES_ROOT.glob("*/*/case.json"))
    ]


def normalised(getter: str, result: object) -> object:
    """Expected results are JSON: make VNI keys ints again (VTEP keys are strings already)."""
    if getter == "get_vxlan_vnis" and isinstance(result, dict):
        return {int(key): value for key, value in result.items()}
    return result


# --------------------------------------------------------------------------- transport doubles


class FakeEapiNode:
    """pyeapi `Node.run_commands` answering from the case (eAPI returns decoded JSON)."""

    def __init__(self, case: Case) -> None:
        self.case = case

    def run_commands(self, commands: list[str], **_: object) -> list[object]:
        return [self.case.output(command) for command in commands]


class FakeNetmiko:
    """Netmiko `send_command` answering from the case (SSH returns text)."""

    def __init__(self, case: Case) -> None:
        self.case = case

    def send_command(self, command: str, **_: object) -> object:
        return self.case.output(command)


class FakeNxapi:
    """NX-API `show()`: the structured body, decoded (as nxapi_plumbing returns it)."""

    def __init__(self, case: Case) -> None:
        self.case = case

    def show(self, command: str, raw_text: bool = False) -> object:
        output = self.case.output(command)
        return json.loads(output) if isinstance(output, str) and not raw_text else output


class FakePyez:
    """PyEZ `Device.rpc.cli(command, format="json")`, decoding the way PyEZ does (Device.execute):
    `json.loads`, and `JSONLoadError(exception, text)` when Junos' JSON does not decode."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.rpc = self

    def cli(self, command: str, format: str = "text", normalize: bool = False) -> object:
        assert format == "json", format
        output = self.case.output(command)
        if not isinstance(output, str):
            return output
        try:
            return json.loads(output, strict=False)
        except ValueError as error:
            raise JSONLoadError(error, output) from None


class FakePyvtepLink(PyvtepLink):
    """pyvtep's API relay and shell batch answering from the case: the recorded reply lines go through the
    link's own reply parsing, as the relay's output would."""

    def __init__(self, case: Case) -> None:
        super().__init__(None, HOSTNAME, "/run/pyvtep/recorded.sock", "python3")  # type: ignore[arg-type]
        self.case = case

    def read(self, requests: Any, commands: Any = None, timeout: float | None = None) -> Any:
        lines = "".join(str(self.case.output(f"api {request['op']}")) for request in requests)
        shell = {name: Completed(command, 0, str(self.case.output(command)), "")
                 for name, command in (commands or {}).items()}
        return self.replies(Completed("relay", 0, lines, ""), requests), shell


def driver_for(case: Case) -> Any:
    """The real vxauto driver subclass with its transport replaced by the case's double."""
    name = case.spec["driver"]
    if name == "pyvtep":
        driver = PyvtepDriver(HOSTNAME, "user", "", optional_args=dict(case.spec.get("optional_args", {})))
        driver._link = FakePyvtepLink(case)
        return driver
    driver = VXLAN_DRIVERS[name](HOSTNAME, "user", "password", optional_args=dict(case.spec.get("optional_args", {})))
    if name == "eos" and driver.transport == "ssh":
        driver.device = driver._netmiko_device = FakeNetmiko(case)
    elif name == "eos":
        driver.device = FakeEapiNode(case)
    elif name == "nxos":
        driver.device = FakeNxapi(case)
    elif name == "nxos_ssh":
        driver.device = FakeNetmiko(case)
    elif name == "junos":
        driver.device = FakePyez(case)
    else:
        raise AssertionError(f"{case.id}: no double for driver {name!r}")
    return driver


def getter_for(case: Case, getter: str) -> Callable[[], object]:
    """The getter to call: a driver method, or for FRR/Linux the parser module's getter."""
    if case.spec["driver"] == "frr":
        def fetch(command: str) -> Reply:
            return Reply(frr.PLATFORM, command, case.output(command), HOSTNAME)

        function = getattr(frr, getter)
        return lambda: function(fetch, **case.spec.get("getter_args", {}))
    driver = driver_for(case)
    if case.spec["driver"] == "pyvtep":
        return getattr(driver, getter)

    def call() -> object:
        try:
            return getattr(driver, getter)()
        finally:
            # NAPALM's __del__ probes the connection; without a device it just reports "not alive"
            driver.device = None
            driver._netmiko_device = None

    return call
