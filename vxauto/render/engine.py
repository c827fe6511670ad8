"""Turn derived device facts into configuration files.

One template per platform and feature, data prepared in Python (netlab's feature x device matrix): the
platform record (`Platform.outputs`, vxauto/model/platforms.py) says which files a platform gets and which
template or builder writes each one. Templates are logic-free loops over `DeviceFacts`; JSON and YAML formats
are built as Python data and dumped (render/sonic.py, nvue.py, netplan.py). StrictUndefined makes a template
that asks for a missing fact fail loudly instead of rendering an empty line into a switch config.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

import jinja2

from vxauto.model.fabric import Fabric
from vxauto.model.facts import DeviceFacts, SegmentFacts
from vxauto.model.kernel_state import KernelPlan, KernelState, kernel_plan
from vxauto.model.platforms import PLATFORMS, TEMPLATE_PATHS, platform
from vxauto.render import netplan

TEMPLATES_ENV = "VXAUTO_TEMPLATES"
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True)
class OutputFile:
    """One file of a device's configuration and what writes it: a template, or for JSON/YAML formats a
    Python builder that makes the data and dumps it (no comma bookkeeping in text)."""

    name: str
    template: str | None = None
    #: Extra context for this file only (e.g. the one segment a per-VNI file is about).
    context: dict[str, object] = field(default_factory=dict)
    builder: Callable[[DeviceFacts], str] | None = None

    def render(self, env: jinja2.Environment, device: DeviceFacts) -> str:
        if self.builder is not None:
            return self.builder(device)
        assert self.template is not None, f"{self.name}: an output needs a template or a builder"
        return env.get_template(self.template).render(device=device, **self.context)


@dataclass
class RenderedConfig:
    host: str
    platform: str
    files: dict[str, str]
    #: True when the platform's configuration is one file (`<host>.<ext>`), False for a `<host>/` directory.
    single: bool
    #: The kernel state the kernel script creates (platforms whose outputs include one): what the FRR driver
    #: deploys, derived from the facts rather than read back from the script.
    kernel_state: KernelState | None = None

    def write(self, out_dir: Path) -> list[Path]:
        """Write to `out_dir/<host>.<ext>` or `out_dir/<host>/<file>`; returns the paths written."""
        written = []
        if self.single:
            ((name, text),) = self.files.items()
            target = out_dir / f"{self.host}{Path(name).suffix}"
            target.write_text(text, encoding="utf-8")
            written.append(target)
        else:
            host_dir = out_dir / self.host
            host_dir.mkdir(parents=True, exist_ok=True)
            for name, text in self.files.items():
                target = host_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)  # drop-in files live in `<unit>.d/`
                target.write_text(text, encoding="utf-8")
                written.append(target)
        return written


OutputsFor = Callable[[DeviceFacts], list[OutputFile]]


def netplan_outputs(device: DeviceFacts) -> list[OutputFile]:
    """Netplan YAML, plus what netplan cannot say: a static flood list per VXLAN tunnel, as a drop-in for
    the .network file netplan's networkd renderer writes for that tunnel (`10-netplan-<name>.network`)."""
    files = [OutputFile("netplan.yaml", builder=netplan.render)]
    for segment in device.static_segments:
        if segment.flood_peers:
            files.append(
                OutputFile(
                    f"10-netplan-vxlan{segment.vni}.network.d/50-vxauto-flood.conf",
                    "linux/networkd/netplan-flood.conf.j2",
                    {"segment": segment},
                )
            )
    return files


def networkd_outputs(device: DeviceFacts) -> list[OutputFile]:
    """systemd-networkd wants one file per link: a .network per addressed link (addresses differ per
    link, so one file cannot cover all underlay links), a .netdev/.network pair per bridge, VXLAN and
    trunk VLAN device, and a .network per access/trunk port."""
    files: list[OutputFile] = []
    if device.loopback_addresses:
        files.append(OutputFile("10-lo.network", "linux/networkd/loopback.network.j2"))
    if device.vtep_own_interface:
        files.append(OutputFile(f"11-{device.vtep_own_interface}.network", "linux/networkd/vtep.network.j2"))
    for interface in device.interfaces:
        files.append(
            OutputFile(f"12-{interface.name}.network", "linux/networkd/underlay.network.j2", {"interface": interface})
        )
    for segment in device.segments:
        context: dict[str, object] = {"segment": segment}
        files += [
            OutputFile(f"20-br{segment.vni}.netdev", "linux/networkd/bridge.netdev.j2", context),
            OutputFile(f"20-br{segment.vni}.network", "linux/networkd/bridge.network.j2", context),
            OutputFile(f"30-vxlan{segment.vni}.netdev", "linux/networkd/vxlan.netdev.j2", context),
            OutputFile(f"30-vxlan{segment.vni}.network", "linux/networkd/vxlan.network.j2", context),
        ]
    for port in device.ports:
        files.append(OutputFile(f"40-{port.name}.network", "linux/networkd/port.network.j2", {"port": port}))
        for segment in port.trunk:
            context = {"port": port.name, "segment": segment}
            files += [
                OutputFile(f"41-{port.name}.{segment.vlan}.netdev", "linux/networkd/vlan.netdev.j2", context),
                OutputFile(f"41-{port.name}.{segment.vlan}.network", "linux/networkd/vlan.network.j2", context),
            ]
    return files


@cache
def _function(reference: str) -> Callable[[DeviceFacts], Any]:
    """The function a platform record names as "module:function"."""
    module, _, name = reference.partition(":")
    return cast(Callable[[DeviceFacts], Any], getattr(importlib.import_module(module), name))


def outputs(device: DeviceFacts, kernel: KernelPlan | None = None) -> list[OutputFile]:
    """The files of one device, as its platform record says (a kernel script gets the kernel plan)."""
    files: list[OutputFile] = []
    for spec in platform(device.platform).outputs_for(device.role, device.flavour):
        if spec.planner:
            files += _function(spec.planner)(device)
        elif spec.builder:
            files.append(OutputFile(spec.name, builder=_function(spec.builder)))
        elif spec.kernel:
            files.append(OutputFile(spec.name, spec.template, {"kernel": kernel or kernel_plan(device)}))
        else:
            files.append(OutputFile(spec.name, spec.template))
    return files


class _OutputsByPlatform(Mapping[str, OutputsFor]):
    """platform name -> its outputs function: a view of the platform records (registered ones included)."""

    def __getitem__(self, name: str) -> OutputsFor:
        if name not in PLATFORMS:
            raise KeyError(name)
        return outputs

    def __iter__(self) -> Iterator[str]:
        return iter(PLATFORMS)

    def __len__(self) -> int:
        return len(PLATFORMS)


PLATFORM_OUTPUTS: Mapping[str, OutputsFor] = _OutputsByPlatform()


def templates_dir() -> Path:
    return Path(os.environ.get(TEMPLATES_ENV) or DEFAULT_TEMPLATES)


@cache
def _environment(directories: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directories),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def _mac_dotted(mac: str) -> str:
    """00:1c:73:00:00:01 -> 001c.7300.0001 (Cisco/Arista dotted form)."""
    digits = mac.replace(":", "")
    return ".".join(digits[i : i + 4] for i in range(0, 12, 4))


def _ip_only(prefix: str) -> str:
    return prefix.split("/", 1)[0]


def _prefixlen(prefix: str) -> str:
    return prefix.split("/", 1)[1]


def _rt_asn(route_target: str) -> str:
    return route_target.split(":", 1)[0]


def _junos_target(route_target: str) -> str:
    """A route target as a Junos community: 4-byte AS numbers take the `L` suffix (target:4200000000L:10)."""
    asn, number = route_target.split(":", 1)
    return f"target:{asn}L:{number}" if int(asn) > 65535 else f"target:{route_target}"


def _vnis(segments: Iterable[SegmentFacts]) -> str:
    return ",".join(str(s.vni) for s in segments)


FILTERS: dict[str, Callable[..., str]] = {
    "mac_dotted": _mac_dotted,
    "ip_only": _ip_only,
    "prefixlen": _prefixlen,
    "rt_asn": _rt_asn,
    "vnis": _vnis,
    "junos_target": _junos_target,
}


def render_device(device: DeviceFacts, templates: Path | None = None) -> RenderedConfig:
    """Render one device. Pure: same facts in, byte-identical files out."""
    env = _environment((str(templates or templates_dir()), *map(str, TEMPLATE_PATHS)))
    record = platform(device.platform)
    has_script = any(spec.kernel for spec in record.outputs_for(device.role, device.flavour))
    kernel = kernel_plan(device) if has_script else None
    files_of = outputs(device, kernel)
    files = {output.name: output.render(env, device) for output in files_of}
    single = len(files_of) == 1 and not record.is_directory(device.role, device.flavour)
    return RenderedConfig(device.name, device.platform, files, single, kernel.state if kernel else None)


def render_fabric(
    fabric: Fabric, hosts: Iterable[str] | None = None, templates: Path | None = None
) -> list[RenderedConfig]:
    """Render the selected hosts (all by default), in inventory order."""
    names = list(hosts) if hosts is not None else list(fabric.hosts)
    return [render_device(fabric.device(name), templates) for name in names]
