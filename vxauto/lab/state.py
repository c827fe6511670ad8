"""Recorded lab state: what a lab created, written before it is created.

`up` writes the full plan (namespaces, veths, bridge, directories) to the registry before it creates the
first of them, and adds process IDs as they start. `down` works from this record, so a crashed or killed
`up` can always be cleaned. The registry lives in /run (tmpfs): it disappears at reboot together with
everything it describes (namespaces, veths, processes).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

REGISTRY_ENV = "VXAUTO_LAB_REGISTRY"
DEFAULT_REGISTRY = Path("/run/vxauto/labs")
STATE_VERSION = 1
LAB_DIR_COPY = "vxauto-state.json"  # the same record inside the lab directory, for people and for `down`


def registry_dir() -> Path:
    return Path(os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


@dataclass
class NodeState:
    name: str
    namespace: str
    kind: str
    role: str
    image: str | None
    mgmt_ipv4: str
    #: Root-namespace end of the node's management veth (the node end is eth0).
    mgmt_veth: str
    #: Per-node directory in the lab directory (host keys, sshd_config, FRR's /etc/frr).
    node_dir: str
    #: FRR's per-node runtime directory (/run/frr/<namespace>), empty for plain hosts.
    frr_run_dir: str = ""
    #: Symlink /etc/frr/<namespace> -> the node's FRR directory (so `vtysh -N <ns>` finds its config).
    frr_etc_link: str = ""
    #: Process name -> PID (sshd, zebra, bgpd, ...).
    pids: dict[str, int] = field(default_factory=dict)
    #: Inode of the network namespace, to find its processes even after its /run/netns entry is gone.
    netns_inode: int = 0
    interfaces: list[str] = field(default_factory=list)
    #: Files the node's daemons create outside the lab directory (pyvtep's API socket): removed by `down`.
    runtime_files: list[str] = field(default_factory=list)


@dataclass
class LabState:
    name: str
    topology: str
    lab_dir: str
    runtime: str
    bridge: str
    subnet: str
    gateway: str
    #: Device group of the root ends of the management veths: `down` deletes them in one netlink call.
    link_group: int = 0
    #: creating -> running; anything else than running means `up` did not finish.
    phase: str = "creating"
    fingerprint: str = ""
    configs: str | None = None
    owner_pid: int = 0
    nodes: dict[str, NodeState] = field(default_factory=dict)
    links: list[list[str]] = field(default_factory=list)
    version: int = STATE_VERSION

    # --- persistence ----------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return state_path(self.name)

    def save(self) -> None:
        """Atomically replace the recorded state (write a temporary file, then rename), in the registry and,
        once it exists, in the lab directory."""
        text = json.dumps(asdict(self), indent=1, sort_keys=True)
        targets = [self.path]
        if Path(self.lab_dir).is_dir():
            targets.append(Path(self.lab_dir) / LAB_DIR_COPY)
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(".tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, target)

    @classmethod
    def load(cls, name: str) -> LabState | None:
        return cls.load_file(state_path(name))

    @classmethod
    def load_file(cls, path: Path) -> LabState | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict):
            return None
        nodes = {key: NodeState(**value) for key, value in raw.pop("nodes", {}).items()}
        known = {f for f in cls.__dataclass_fields__ if f != "nodes"}
        return cls(nodes=nodes, **{k: v for k, v in raw.items() if k in known})

    def forget(self) -> None:
        for path in (self.path, Path(self.lab_dir) / LAB_DIR_COPY):
            path.unlink(missing_ok=True)
            path.with_suffix(".tmp").unlink(missing_ok=True)


def state_path(name: str) -> Path:
    return registry_dir() / f"{name}.json"


def recorded_labs() -> list[str]:
    """Names of every lab in the registry."""
    directory = registry_dir()
    if not directory.is_dir():
        return []
    return sorted(path.stem for path in directory.glob("*.json"))


@contextmanager
def lab_lock(name: str) -> Iterator[None]:
    """One `up`/`down` per lab at a time (a second one waits)."""
    directory = registry_dir()
    directory.mkdir(parents=True, exist_ok=True)
    lock_file = directory / f"{name}.lock"
    with open(lock_file, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if not state_path(name).exists():
                lock_file.unlink(missing_ok=True)  # a downed lab leaves nothing behind, not even its lock
            fcntl.flock(handle, fcntl.LOCK_UN)
