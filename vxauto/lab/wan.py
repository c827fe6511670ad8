"""WAN impairments (delay, jitter, loss, rate, corruption) on lab links, the way `containerlab tools netem` sets them.

Same flags and units as containerlab's `tools netem set`: `--delay`/`--jitter` are durations (`10ms`, `1s`),
`--loss`/`--corruption` percentages, `--rate` kbit/s; each applies to the egress of one node's interface, and
a new `set` replaces everything set before on that interface. A topology declares impairments on a link with
`vars: {netem: {delay: 10ms, ...}}`: they apply to both ends when the lab comes up.

Under Docker, vxauto hands over to `containerlab tools netem set` (`containerlab_argv`). The netns runtime
uses the kernel's netem qdisc where the kernel has it. Where it does not (this project's CI kernel), it uses:
- rate: the tbf qdisc;
- delay, jitter, loss, corruption: a userspace delay line (vxauto.lab.delayline) fed by a tc clsact egress
  redirect (u32 match-all + mirred) through a private veth pair, and sending on the interface itself.
`Applied.method` says which one is in use; `vxauto lab netem show` prints it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from vxauto.errors import Problem, VxautoError
from vxauto.lab import netns
from vxauto.lab.netns import LabError
from vxauto.lab.state import LabState, NodeState
from vxauto.lab.topology import Topology
from vxauto.model.yamlsource import format_path

NETEM_KEYS = ("delay", "jitter", "loss", "rate", "corruption")
RECORD = "wan.json"
READY_TIMEOUT = 10.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True)
class Impairment:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    rate_kbit: int = 0
    corruption: float = 0.0

    @property
    def empty(self) -> bool:
        return not (self.delay_ms or self.jitter_ms or self.loss or self.rate_kbit or self.corruption)

    @property
    def needs_delay_line(self) -> bool:
        return bool(self.delay_ms or self.jitter_ms or self.loss or self.corruption)

    def flags(self) -> list[str]:
        """containerlab's `tools netem set` flags for this impairment."""
        out: list[str] = []
        if self.delay_ms:
            out += ["--delay", _duration_text(self.delay_ms)]
        if self.jitter_ms:
            out += ["--jitter", _duration_text(self.jitter_ms)]
        if self.loss:
            out += ["--loss", f"{self.loss:g}"]
        if self.rate_kbit:
            out += ["--rate", str(self.rate_kbit)]
        if self.corruption:
            out += ["--corruption", f"{self.corruption:g}"]
        return out


def _duration_text(ms: float) -> str:
    return f"{ms:g}ms"


def parse_duration(text: object) -> float:
    """A Go duration as containerlab takes it (`10ms`, `1.5s`, `500us`) -> milliseconds."""
    match = _DURATION.match(str(text).strip()) if isinstance(text, str | int | float) else None
    if match is None:
        raise ValueError("must be a duration such as 10ms, 1.5s or 500us")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def impairment(values: Mapping[str, object]) -> tuple[Impairment | None, list[tuple[str, str, object]]]:
    """Validate netem settings (containerlab's names); returns the impairment and (key, message, value) errors."""
    errors: list[tuple[str, str, object]] = []
    parsed: dict[str, float | int] = {}
    for key, value in values.items():
        if key not in NETEM_KEYS:
            errors.append((key, f"unknown netem setting (containerlab's: {', '.join(NETEM_KEYS)})", key))
            continue
        try:
            if key in ("delay", "jitter"):
                parsed[f"{key}_ms"] = parse_duration(value)
            elif key == "rate":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("must be a whole number of kbit/s (0: no limit)")
                parsed["rate_kbit"] = value
            else:
                number = float(value)  # type: ignore[arg-type]
                if not 0 <= number <= 100 or isinstance(value, bool):
                    raise ValueError("must be a percentage between 0 and 100")
                parsed[key] = number
        except (TypeError, ValueError) as exc:
            message = str(exc) if "must" in str(exc) else "must be a percentage between 0 and 100"
            errors.append((key, message, value))
    if parsed.get("jitter_ms") and not parsed.get("delay_ms") and not errors:
        errors.append(("jitter", "jitter needs a delay (as with containerlab and netem)", values.get("jitter")))
    if errors:
        return None, errors
    return Impairment(**parsed), []  # type: ignore[arg-type]


@dataclass(frozen=True)
class Declared:
    node: str
    interface: str
    impairment: Impairment


def declared(topology: Topology) -> list[Declared]:
    """The `vars.netem` of the topology's links, for both ends; bad values are reported with file and line."""
    source = topology.source
    raw_links = ((source.data or {}).get("topology") or {}).get("links") or []
    problems: list[Problem] = []
    found: list[Declared] = []
    for link in topology.links:
        raw = raw_links[link.index] if link.index < len(raw_links) else {}
        netem = (raw.get("vars") or {}).get("netem") if isinstance(raw, dict) else None
        if netem is None:
            continue
        path = ("topology", "links", link.index, "vars", "netem")
        if not isinstance(netem, dict):
            problems.append(Problem(source.file, format_path(path), "must be a mapping of netem settings "
                                    f"({', '.join(NETEM_KEYS)})", netem, source.line_of(path)))
            continue
        parsed, errors = impairment(netem)
        for key, message, value in errors:
            problems.append(Problem(source.file, format_path((*path, key)), message, value,
                                    source.line_of((*path, key))))
        if parsed is not None and not parsed.empty:
            found += [Declared(end.node, end.interface, parsed) for end in (link.a, link.b)]
    VxautoError.collect(problems)
    return found


def containerlab_argv(topology: Topology, node: str, interface: str, impaired: Impairment) -> list[str]:
    """`containerlab tools netem set` for one node interface (the Docker hand-over)."""
    return ["containerlab", "tools", "netem", "set", "-n", topology.long_name(node), "-i", interface,
            *impaired.flags()]


# --- the netns runtime ----------------------------------------------------------------------------------


@dataclass
class Applied:
    node: str
    interface: str
    impairment: Impairment
    #: netem | tbf | delay-line | delay-line+tbf
    method: str


def _run(node: NodeState, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", "netns", "exec", node.namespace, *argv], capture_output=True, text=True,
                            timeout=30, check=False)
    if check and result.returncode != 0:
        raise LabError(f"{node.name}: {' '.join(argv)} failed: {(result.stderr or result.stdout).strip()}")
    return result


def _names(interface: str) -> tuple[str, str]:
    """The private veth pair of an impaired interface: `<if>-dl0` (redirect target), `<if>-dl1` (read)."""
    base = interface[: netns.IFNAMSIZ - 4]
    return f"{base}-dl0", f"{base}-dl1"


def _process_key(interface: str) -> str:
    return f"delayline-{interface}"


def reset(state: LabState, node_name: str, interface: str) -> None:
    """Remove every impairment of one interface (none set is fine, as with containerlab)."""
    node = _node(state, node_name, interface)
    pid = node.pids.pop(_process_key(interface), None)
    if pid:
        netns.kill_processes([pid])
    _run(node, ["tc", "qdisc", "del", "dev", interface, "root"], check=False)
    _run(node, ["tc", "qdisc", "del", "dev", interface, "clsact"], check=False)
    _run(node, ["ip", "link", "del", _names(interface)[0]], check=False)
    records = _records(state)
    records.pop(f"{node_name}:{interface}", None)
    _save_records(state, records)
    state.save()


def apply(state: LabState, node_name: str, interface: str, impaired: Impairment) -> Applied:
    """Set one interface's impairment (replacing what was there): netem if the kernel has it, else the
    fallback described in the module docstring."""
    reset(state, node_name, interface)
    node = _node(state, node_name, interface)
    if impaired.empty:
        return Applied(node_name, interface, impaired, "none")
    netem = ["tc", "qdisc", "add", "dev", interface, "root", "netem", *_netem_args(impaired)]
    tried = _run(node, netem, check=False)
    if tried.returncode == 0:
        method = "netem"
    elif "unknown" not in tried.stderr.lower():
        raise LabError(f"{node_name}: {' '.join(netem)} failed: {tried.stderr.strip()}")
    elif impaired.needs_delay_line:
        method = _delay_line(state, node, interface, impaired)
    else:
        _run(node, ["tc", "qdisc", "add", "dev", interface, "root", *_tbf_args(node, interface, impaired)])
        method = "tbf"
    applied = Applied(node_name, interface, impaired, method)
    records = _records(state)
    records[f"{node_name}:{interface}"] = {**asdict(impaired), "method": method}
    _save_records(state, records)
    state.save()
    return applied


def _netem_args(impaired: Impairment) -> list[str]:
    """netem parameters as containerlab sets them (delay with jitter, loss, rate, corrupt)."""
    args: list[str] = []
    if impaired.delay_ms or impaired.jitter_ms:
        args += ["delay", f"{impaired.delay_ms:g}ms"] + ([f"{impaired.jitter_ms:g}ms"] if impaired.jitter_ms else [])
    if impaired.loss:
        args += ["loss", f"{impaired.loss:g}%"]
    if impaired.rate_kbit:
        args += ["rate", f"{impaired.rate_kbit}kbit"]
    if impaired.corruption:
        args += ["corrupt", f"{impaired.corruption:g}%"]
    return args


def _tbf_args(node: NodeState, interface: str, impaired: Impairment) -> list[str]:
    # The bucket must hold the largest frame of the link, or tbf drops every frame bigger than it.
    mtu = _mtu(node, interface)
    burst = max(mtu + 64, impaired.rate_kbit * 1000 // 8 // 50)
    return ["tbf", "rate", f"{impaired.rate_kbit}kbit", "burst", str(burst), "latency", "100ms"]


def _mtu(node: NodeState, interface: str) -> int:
    shown = _run(node, ["cat", f"/sys/class/net/{interface}/mtu"])
    return int(shown.stdout.strip())


def _delay_line(state: LabState, node: NodeState, interface: str, impaired: Impairment) -> str:
    redirect, capture = _names(interface)
    mtu = str(_mtu(node, interface))
    _run(node, ["ip", "link", "add", redirect, "mtu", mtu, "type", "veth", "peer", "name", capture, "mtu", mtu])
    _run(node, ["sysctl", "-qw", f"net.ipv6.conf.{redirect}.disable_ipv6=1", f"net.ipv6.conf.{capture}.disable_ipv6=1"])
    # The redirect target segments and checksums in software (the frames leave through a raw socket,
    # which cannot finish a partial checksum or split a GSO frame), the reader gets them one by one.
    _run(node, ["ethtool", "-K", redirect, "tx", "off", "sg", "off", "tso", "off", "gso", "off"])
    _run(node, ["ethtool", "-K", capture, "gro", "off"])
    for name in (redirect, capture):
        _run(node, ["ip", "link", "set", name, "up"])
    method = "delay-line"
    if impaired.rate_kbit:
        _run(node, ["tc", "qdisc", "add", "dev", redirect, "root", *_tbf_args(node, interface, impaired)])
        method = "delay-line+tbf"
    ready = Path(node.node_dir) / f"delayline-{interface}.ready"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "vxauto.lab.delayline", "--capture", capture, "--send", interface,
            "--delay-ms", f"{impaired.delay_ms:g}", "--jitter-ms", f"{impaired.jitter_ms:g}",
            "--loss", f"{impaired.loss:g}", "--corruption", f"{impaired.corruption:g}", "--ready", str(ready)]
    log = open(Path(node.node_dir) / f"delayline-{interface}.log", "ab")  # noqa: SIM115 - handed to the process
    try:
        process = subprocess.Popen(["ip", "netns", "exec", node.namespace, *argv], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    node.pids[_process_key(interface)] = process.pid
    state.save()
    if netns.wait_for_files([ready], READY_TIMEOUT) or process.poll() is not None:
        raise LabError(f"{node.name}: the delay line on {interface} did not start (see "
                       f"{Path(node.node_dir) / f'delayline-{interface}.log'})")
    # Only now redirect the interface's egress into the delay line: nothing is lost while it starts.
    _run(node, ["tc", "qdisc", "add", "dev", interface, "clsact"])
    _run(node, ["tc", "filter", "add", "dev", interface, "egress", "protocol", "all", "u32", "match", "u32", "0",
                "0", "action", "mirred", "egress", "redirect", "dev", redirect])
    return method


def _node(state: LabState, node_name: str, interface: str) -> NodeState:
    node = state.nodes.get(node_name)
    if node is None:
        raise LabError(f"lab {state.name} has no node {node_name}")
    if interface not in node.interfaces:
        raise LabError(f"{node_name} has no data interface {interface} (it has: {', '.join(node.interfaces)})")
    return node


def _records(state: LabState) -> dict[str, dict]:
    try:
        loaded = json.loads((Path(state.lab_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _save_records(state: LabState, records: dict[str, dict]) -> None:
    (Path(state.lab_dir) / RECORD).write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")


def shown(state: LabState, node_name: str | None = None) -> list[dict]:
    """The impairments in place (per node interface, with the method), as `netem show` prints them."""
    rows = []
    for key, record in sorted(_records(state).items()):
        node, interface = key.split(":", 1)
        if node_name is None or node == node_name:
            rows.append({"node": node, "interface": interface, **record})
    return rows


def apply_declared(topology: Topology, state: LabState) -> list[Applied]:
    """Apply the topology's declared impairments (called once the nodes are up)."""
    return [apply(state, item.node, item.interface, item.impairment) for item in declared(topology)]
