"""Turn derived device facts into configuration files.

One template per platform and feature, data prepared in Python (netlab's feature x device matrix):
`PLATFORM_OUTPUTS` says which files a platform gets and which template writes each one. Templates are
logic-free loops over `DeviceFacts`; StrictUndefined makes a template that asks for a missing fact fail
loudly instead of rendering an empty line into a switch config.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2

from vxauto.model.fabric import Fabric
from vxauto.model.facts import DeviceFacts, SegmentFacts
from vxauto.render import netplan, nvue, sonic

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


def _single(name: str, template: str) -> OutputsFor:
    return lambda device: [OutputFile(name, template)]


def _frr_outputs(device: DeviceFacts) -> list[OutputFile]:
    return [OutputFile("frr.conf", "frr/frr.conf.j2"), OutputFile("interfaces.sh", "linux/iproute2.sh.j2")]


def _linux_outputs(device: DeviceFacts) -> list[OutputFile]:
    if device.role == "host":
        return [OutputFile("endpoint.sh", "linux/endpoint.sh.j2")]
    flavour = device.flavour or "iproute2"
    if flavour == "networkd":
        return _networkd_outputs(device)
    if flavour == "netplan":
        return _netplan_outputs(device)
    names = {"iproute2": "vxlan.sh", "ifupdown2": "interfaces"}
    suffix = {"iproute2": "iproute2.sh.j2", "ifupdown2": "ifupdown2.j2"}
    return [OutputFile(names[flavour], f"linux/{suffix[flavour]}")]


def _netplan_outputs(device: DeviceFacts) -> list[OutputFile]:
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


def _networkd_outputs(device: DeviceFacts) -> list[OutputFile]:
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


PLATFORM_OUTPUTS: dict[str, OutputsFor] = {
    "eos": _single("config.cfg", "eos/vxlan.j2"),
    "nxos": _single("config.cfg", "nxos/vxlan.j2"),
    "junos": _single("config.conf", "junos/vxlan.j2"),
    # containerlab applies an SR Linux startup-config as CLI commands only when the file ends in .cli.
    "srlinux": _single("config.cli", "srlinux/vxlan.j2"),
    "cumulus": lambda device: [OutputFile("config.yaml", builder=nvue.render)],
    "sonic": lambda device: [OutputFile("config_db.json", builder=sonic.render)],
    "frr": _frr_outputs,
    "linux": _linux_outputs,
    "ovs": _single("config.sh", "ovs/vxlan.sh.j2"),
    "pyvtep": lambda device: [
        OutputFile("pyvtep.yaml", "pyvtep/pyvtep.yaml.j2"),
        OutputFile("interfaces.sh", "pyvtep/interfaces.sh.j2"),
    ],
}


def templates_dir() -> Path:
    return Path(os.environ.get(TEMPLATES_ENV) or DEFAULT_TEMPLATES)


@cache
def _environment(directory: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
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
    env = _environment(str(templates or templates_dir()))
    outputs = PLATFORM_OUTPUTS[device.platform](device)
    files = {output.name: output.render(env, device) for output in outputs}
    single = len(outputs) == 1 and not _always_directory(device)
    return RenderedConfig(device.name, device.platform, files, single)


# Platforms whose configuration is always a directory, even when it happens to be one file.
MULTI_FILE_PLATFORMS = frozenset({"frr"})
# Linux flavours written as a directory even when they are one file: networkd's file count and netplan's
# (a flood drop-in per static segment) depend on the intent, so a host's output would change shape; the
# ifupdown2 file is `interfaces`, which has no extension to make `<host><ext>` of.
DIRECTORY_FLAVOURS = frozenset({"ifupdown2", "networkd", "netplan"})


def _always_directory(device: DeviceFacts) -> bool:
    if device.platform in MULTI_FILE_PLATFORMS:
        return True
    return device.platform == "linux" and device.role != "host" and device.flavour in DIRECTORY_FLAVOURS


def render_fabric(
    fabric: Fabric, hosts: Iterable[str] | None = None, templates: Path | None = None
) -> list[RenderedConfig]:
    """Render the selected hosts (all by default), in inventory order."""
    names = list(hosts) if hosts is not None else list(fabric.hosts)
    return [render_device(fabric.device(name), templates) for name in names]
