"""Shared plumbing for the vendor VXLAN parsers.

A parser never lets a `KeyError`/`TypeError` escape: every lookup into a device reply goes through a
`Node`, which knows the platform, the command and the path it is at, and raises a `VxautoError` that
names all three when something is missing or of the wrong type.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from vxauto.devices.contract import (
    MAX_VNI,
    MIN_VNI,
    Learning,
    State,
    VniInfo,
    VtepInfo,
    VtepTable,
    sorted_ips,
)
from vxauto.errors import VxautoError

#: What devices print for "no address" in an address field.
_UNSET_ADDRESSES = frozenset({"", "0.0.0.0", "::", "none", "n/a", "unknown", "not-configured"})

#: Learning modes from strongest to weakest evidence; used when one VTEP has several sources.
_LEARNING_ORDER: tuple[Learning, ...] = ("evpn", "static", "dataplane", "unknown")


@dataclass(frozen=True)
class Reply:
    """One device reply plus where it came from, so that errors can say which reply was bad."""

    platform: str
    command: str
    data: object
    host: str | None = None

    @property
    def source(self) -> str:
        host = f"{self.host} " if self.host else ""
        return f"{host}[{self.platform}] `{self.command}`"

    def error(self, path: str, message: str, value: object = None) -> VxautoError:
        return VxautoError.single(self.source, path, message, _shorten(value))

    def root(self, value: object) -> Node:
        return Node(self, value, "")


#: How a getter asks its driver for one command's reply (the driver knows transport and host).
Fetch = Callable[[str], Reply]


def _shorten(value: object, limit: int = 120) -> object:
    """Keep error messages readable when the offending value is a whole reply."""
    if value is None or isinstance(value, int | float | bool):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def decode_json(reply: Reply, repair: Callable[[str], str] | None = None) -> Node:
    """The reply as decoded JSON. Text is decoded here; `repair` may fix a known vendor quirk."""
    data = reply.data
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        stripped = data.strip()
        if stripped.startswith("%") or stripped.lower().startswith(("error", "syntax error")):
            raise reply.error("", "the device rejected the command", stripped)
        try:
            return reply.root(json.loads(data))
        except json.JSONDecodeError as error:
            if repair is not None:
                try:
                    return reply.root(json.loads(repair(data)))
                except json.JSONDecodeError:
                    pass
            raise reply.error("", f"reply is not valid JSON ({error.msg} at line {error.lineno})",
                              data) from None
    if isinstance(data, dict | list):
        return reply.root(data)
    raise reply.error("", "reply is neither JSON text nor decoded JSON", type(data).__name__)


def reply_text(reply: Reply) -> str:
    """The reply as CLI text; raises if the device did not return text."""
    data = reply.data
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if not isinstance(data, str):
        raise reply.error("", "expected CLI text", type(data).__name__)
    return data


@dataclass(frozen=True)
class Node:
    """A value inside a reply, with the dotted path that led to it."""

    reply: Reply
    value: object
    path: str = field(default="")

    def _at(self, key: str | int) -> str:
        step = f"[{key}]" if isinstance(key, int) else str(key)
        if not self.path:
            return step
        return f"{self.path}{step}" if isinstance(key, int) else f"{self.path}.{step}"

    def fail(self, message: str, value: object = None) -> VxautoError:
        return self.reply.error(self.path, message, value)

    def mapping(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, got {type(self.value).__name__}", self.value)
        return self.value

    def has(self, key: str) -> bool:
        return self.mapping().get(key) is not None

    def req(self, key: str) -> Node:
        mapping = self.mapping()
        if key not in mapping or mapping[key] is None:
            present = sorted(str(name) for name in mapping if mapping[name] is not None)
            shown = ", ".join(present[:8]) + (", ..." if len(present) > 8 else "")
            raise self.reply.error(self._at(key), f"missing (present: {shown or 'nothing'})")
        return Node(self.reply, mapping[key], self._at(key))

    def opt(self, key: str) -> Node | None:
        value = self.mapping().get(key)
        return None if value is None else Node(self.reply, value, self._at(key))

    def items(self) -> Iterator[tuple[str, Node]]:
        for key, value in self.mapping().items():
            yield key, Node(self.reply, value, self._at(key))

    def elements(self) -> list[Node]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {type(self.value).__name__}", self.value)
        return [Node(self.reply, item, self._at(index)) for index, item in enumerate(self.value)]

    def rows(self) -> list[Node]:
        """A list of rows, where a single row may come as a bare object (NX-OS, Junos)."""
        return self.elements() if isinstance(self.value, list) else [self]

    def text(self) -> str:
        if isinstance(self.value, bool) or not isinstance(self.value, str | int):
            raise self.fail(f"expected text, got {type(self.value).__name__}", self.value)
        return str(self.value).strip()

    def integer(self) -> int:
        value = self.value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self.fail("expected a whole number", value)

    def vni(self) -> int:
        number = self.integer()
        if not MIN_VNI <= number <= MAX_VNI:
            raise self.fail(f"VNI out of range {MIN_VNI}..{MAX_VNI}", number)
        return number

    def vlan(self) -> int | None:
        """A VLAN ID; 0 means "none" on several platforms."""
        number = self.integer()
        if number == 0:
            return None
        if not 1 <= number <= 4094:
            raise self.fail("VLAN out of range 1..4094", number)
        return number

    def ip(self) -> str | None:
        """An IP address in canonical text, or None for the "unset" spellings (0.0.0.0, n/a ...)."""
        text = self.text()
        try:
            return canonical_ip(text)
        except ValueError:
            raise self.fail("not an IP address", text) from None

    def list_of_ips(self) -> list[str]:
        addresses = [node.ip() for node in self.elements()]
        return sorted_ips(address for address in addresses if address is not None)

    def opt_text(self, key: str) -> str | None:
        child = self.opt(key)
        return None if child is None else child.text()

    def opt_ip(self, key: str) -> str | None:
        child = self.opt(key)
        return None if child is None else child.ip()


def canonical_ip(text: str) -> str | None:
    """Canonical IP text; None for the "unset" spellings; `ValueError` for anything else."""
    cleaned = text.strip()
    if cleaned.lower() in _UNSET_ADDRESSES:
        return None
    return ipaddress.ip_address(cleaned).compressed


def state_from(word: str | None) -> State:
    """Map the usual up/down spellings; anything else is `unknown`."""
    lowered = (word or "").strip().lower()
    if lowered in {"up", "connected"}:
        return "up"
    if lowered in {"down", "notconnect", "notpresent", "lowerlayerdown", "disabled", "errdisabled"}:
        return "down"
    return "unknown"


def strongest(modes: Iterable[Learning]) -> Learning:
    """The strongest learning evidence among `modes` (evpn > static > dataplane > unknown)."""
    present = set(modes)
    return next((mode for mode in _LEARNING_ORDER if mode in present), "unknown")


def number_list(text: str, where: Node) -> list[int]:
    """Parse "10,30,999" / "10-12,20" / "" into a sorted list of VNIs."""
    numbers: set[int] = set()
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise where.fail("expected a list of numbers like 10,30-32", text)
        low, high = int(first), int(last or first)
        if not MIN_VNI <= low <= high <= MAX_VNI:
            raise where.fail(f"VNI range out of {MIN_VNI}..{MAX_VNI}", part)
        numbers.update(range(low, high + 1))
    return sorted(numbers)


def new_vni(vni_type: str, **fields: object) -> VniInfo:
    """A `VniInfo` with every field present; unspecified ones are None/unknown/[]."""
    info: VniInfo = {
        "type": "l3" if vni_type == "l3" else "l2",
        "vlan": None,
        "state": "unknown",
        "learning": "unknown",
        "interface": None,
        "source_ip": None,
        "source_interface": None,
        "flood_list": [],
        "mcast_group": None,
        "vrf": None,
        "bridge": None,
        "svi": None,
    }
    unknown = set(fields) - set(info)
    if unknown:  # a programming error, not bad input
        raise TypeError(f"unknown VniInfo fields {sorted(unknown)}")
    info.update(fields)  # type: ignore[typeddict-item]
    return info


class VtepCollector:
    """Accumulates evidence about remote VTEPs from several tables, then builds `VtepTable`."""

    def __init__(self) -> None:
        self._vnis: dict[str, set[int] | None] = {}
        self._states: dict[str, list[State]] = {}
        self._learning: dict[str, list[Learning]] = {}

    def add(
        self,
        address: str,
        vnis: Iterable[int] | None = (),
        learning: Learning = "unknown",
        state: State = "unknown",
    ) -> None:
        known = self._vnis.setdefault(address, set())
        if vnis is None:
            # "this source cannot tell the VNIs": keep what others said, else mark as unknown
            if not known:
                self._vnis[address] = None
        else:
            self._vnis[address] = (known or set()) | set(vnis)
        self._states.setdefault(address, []).append(state)
        self._learning.setdefault(address, []).append(learning)

    def table(self) -> VtepTable:
        result: VtepTable = {}
        for address in sorted_ips(self._vnis):
            vnis = self._vnis[address]
            states = [state for state in self._states[address] if state != "unknown"]
            # a peer reported down anywhere is down: that is the fact an operator must see
            state: State = "down" if "down" in states else (states[0] if states else "unknown")
            info: VtepInfo = {
                "vnis": None if vnis is None else sorted(vnis),
                "state": state,
                "learning": strongest(self._learning[address]),
            }
            result[address] = info
        return result


def vteps_from_flood_lists(
    vnis: dict[int, VniInfo], collector: VtepCollector | None = None
) -> VtepCollector:
    """Every VTEP in a VNI flood list serves that VNI and was learned the way the VNI learns."""
    collector = collector or VtepCollector()
    for vni, info in vnis.items():
        for address in info["flood_list"] or []:
            collector.add(address, [vni], info["learning"])
    return collector
