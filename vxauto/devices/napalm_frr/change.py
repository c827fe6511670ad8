"""What the frr driver read from a device and what a commit (or a restore) would change there."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from vxauto.devices.napalm_frr import frr_reload as frr
from vxauto.devices.napalm_frr.kernel_sync import KernelState, RunningKernel
from vxauto.devices.napalm_frr.remote import Completed


@dataclass
class DeviceState:
    """One read of everything the configuration model compares."""

    running: RunningKernel
    frr_running: str | None  # None: no FRR on the device (or it does not answer)
    frr_delta: frr.FrrDelta | None  # set when a staged FRR file was tested
    manifest: list[str]
    pending: dict[str, Any] | None
    serial: str = ""  # the last change vxauto made on the device (a commit must start from it)
    first: dict[str, Completed] = field(default_factory=dict)  # commands run before the reading


@dataclass
class Change:
    """What a commit (or a restore) would do, computed from one `DeviceState`."""

    state: DeviceState
    view: KernelState | None  # the running kernel as the target sees it; None: kernel not managed
    target: KernelState | None
    commands: list[str]
    frr_delta: frr.FrrDelta | None  # None: FRR not managed
    frr_text: str | None = None  # the staged FRR candidate the delta was computed from (what a commit applies)

    def kernel_diff(self, host: str) -> str:
        if self.view is None or self.target is None:
            return ""
        lines = list(difflib.unified_diff(self.view.lines(), self.target.lines(), f"{host} kernel (running)",
                                          f"{host} kernel (candidate)", n=1, lineterm=""))
        return "\n".join(lines) + "\n" if lines else ""

    def diff(self, host: str) -> str:
        parts = [self.frr_delta.unified(host) if self.frr_delta else "", self.kernel_diff(host)]
        return "".join(part for part in parts if part)

    @property
    def empty(self) -> bool:
        return not self.commands and not self.frr_delta and not (
            self.view is not None and self.target is not None and self.view.lines() != self.target.lines()
        )



@dataclass
class Restored:
    """The outcome of a restore: true when it took, else what still differs or failed."""

    problem: str = ""

    def __bool__(self) -> bool:
        return not self.problem
