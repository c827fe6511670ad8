"""The per-VNI MAC table: which MAC lives behind which remote VTEP, or on the local TAP.

Entry kinds and their precedence (a stronger kind is never replaced by a weaker one):
static (configuration) > evpn (BGP type-2 route) > learned (data plane, ages out) and local
(seen on the TAP, ages out; EVPN advertises these). One exception: a frame from the TAP turns an evpn
entry into a local one (the MAC moved here; EVPN MAC mobility decides which VTEP keeps it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum

from vxauto.vtep.packet import mac_text


class Kind(IntEnum):
    LEARNED = 1
    LOCAL = 2
    EVPN = 3
    STATIC = 4


LOCAL = ""  # the "remote" of a MAC that lives on the local TAP


@dataclass(slots=True)
class Entry:
    remote: str  # remote VTEP IP, or LOCAL
    kind: Kind
    seen: float  # last time traffic refreshed it (learned/local); creation time otherwise

    @property
    def ages(self) -> bool:
        return self.kind in (Kind.LEARNED, Kind.LOCAL)


# Called with (mac, entry or None when removed) whenever a local MAC appears or disappears, so the
# EVPN control plane can advertise or withdraw its type-2 route.
LocalMacListener = Callable[[bytes, Entry | None], None]


class MacTable:
    """MAC -> Entry for one VNI, with learning, moves, aging and static/EVPN entries."""

    def __init__(self, vni: int) -> None:
        self.vni = vni
        self.entries: dict[bytes, Entry] = {}
        self.moves = 0
        self.local_listener: LocalMacListener | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, mac: bytes) -> Entry | None:
        return self.entries.get(mac)

    def learn_remote(self, mac: bytes, remote: str, now: float) -> None:
        """Data-plane learning from a decapsulated frame's inner source MAC and outer source IP."""
        entry = self.entries.get(mac)
        if entry is None:
            self.entries[mac] = Entry(remote, Kind.LEARNED, now)
            return
        if entry.kind in (Kind.LEARNED, Kind.LOCAL):
            if entry.remote != remote:
                self.moves += 1
                was_local = entry.kind == Kind.LOCAL
                entry.remote, entry.kind = remote, Kind.LEARNED
                if was_local:
                    self._notify(mac, None)
            entry.seen = now

    def learn_local(self, mac: bytes, now: float) -> None:
        """A frame from the TAP carries `mac` as source: the MAC lives here."""
        entry = self.entries.get(mac)
        if entry is None:
            entry = self.entries[mac] = Entry(LOCAL, Kind.LOCAL, now)
            self._notify(mac, entry)
            return
        if entry.kind == Kind.LOCAL:
            entry.seen = now
        elif entry.kind in (Kind.LEARNED, Kind.EVPN):
            # Moved from a remote VTEP to here; for an EVPN entry the control plane advertises it with a
            # higher MAC mobility sequence number (RFC 7432 section 15), which takes it from the other VTEP.
            self.moves += 1
            entry.remote, entry.kind, entry.seen = LOCAL, Kind.LOCAL, now
            self._notify(mac, entry)

    def set_static(self, mac: bytes, remote: str, now: float) -> None:
        entry = self.entries.get(mac)
        if entry is not None and entry.kind == Kind.LOCAL:
            self._notify(mac, None)
        self.entries[mac] = Entry(remote, Kind.STATIC, now)

    def set_evpn(self, mac: bytes, remote: str, now: float) -> None:
        entry = self.entries.get(mac)
        if entry is not None and entry.kind == Kind.STATIC:
            return
        if entry is not None and entry.kind == Kind.LOCAL:
            self.moves += 1
            self._notify(mac, None)
        self.entries[mac] = Entry(remote, Kind.EVPN, now)

    def remove(self, mac: bytes, kind: Kind, remote: str | None = None) -> bool:
        """Remove `mac` if it is of `kind` (and behind `remote` when given); True if removed."""
        entry = self.entries.get(mac)
        if entry is None or entry.kind != kind or (remote is not None and entry.remote != remote):
            return False
        del self.entries[mac]
        if kind == Kind.LOCAL:
            self._notify(mac, None)
        return True

    def remove_kind(self, kind: Kind) -> list[bytes]:
        gone = [mac for mac, entry in self.entries.items() if entry.kind == kind]
        for mac in gone:
            self.remove(mac, kind)
        return gone

    def age(self, now: float, max_age: float) -> int:
        """Drop learned and local entries not refreshed for `max_age` seconds; returns how many."""
        expired = [mac for mac, e in self.entries.items() if e.ages and now - e.seen > max_age]
        for mac in expired:
            entry = self.entries.pop(mac)
            if entry.kind == Kind.LOCAL:
                self._notify(mac, None)
        return len(expired)

    def flush_learned(self) -> None:
        for mac in [m for m, e in self.entries.items() if e.kind == Kind.LEARNED]:
            del self.entries[mac]

    def local_macs(self) -> list[bytes]:
        return [mac for mac, entry in self.entries.items() if entry.kind == Kind.LOCAL]

    def rows(self, now: float) -> Iterator[dict[str, object]]:
        for mac, entry in sorted(self.entries.items()):
            yield {
                "vni": self.vni,
                "mac": mac_text(mac),
                "remote": entry.remote or None,
                "local": entry.kind == Kind.LOCAL,
                "type": entry.kind.name.lower(),
                "age": round(now - entry.seen, 1) if entry.ages else None,
            }

    def _notify(self, mac: bytes, entry: Entry | None) -> None:
        if self.local_listener is not None:
            self.local_listener(mac, entry)
