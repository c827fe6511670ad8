"""What each node starts with: rendered vxauto output, the topology's startup-config, or nothing.

`vxauto render -i INVENTORY --out DIR` writes `DIR/<host>/frr.conf` + `DIR/<host>/*.sh` for FRR nodes and
`DIR/<host>.sh` for Linux hosts. With `up --configs DIR` a node whose name has output there gets it: the
FRR configuration as its startup configuration, the shell scripts run inside the node after its links are
up and before FRR starts. Without output for a node, containerlab's rules apply: `startup-config`, or for
kind `linux` with an FRR image a bind onto /etc/frr/frr.conf, else an empty FRR configuration.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from vxauto.errors import Problem, VxautoError
from vxauto.lab.kinds import Role
from vxauto.lab.topology import Topology

ALWAYS_DAEMONS = ("zebra", "staticd", "bgpd")
# Daemons a configuration needs besides the always-on set, found by the statements that configure them.
DAEMON_STATEMENTS: tuple[tuple[str, str], ...] = (
    (r"^router ospf6\b", "ospf6d"),
    (r"^router ospf\b", "ospfd"),
    (r"^router isis\b", "isisd"),
    (r"^router openfabric\b", "fabricd"),
    (r"^router ripng\b", "ripngd"),
    (r"^router rip\b", "ripd"),
    (r"^router eigrp\b", "eigrpd"),
    (r"^router babel\b", "babeld"),
    (r"^(bfd|\s+bfd\b|\s+neighbor \S+ bfd\b)", "bfdd"),
    (r"^(router pim|\s*ip pim\b|\s*ip igmp\b)", "pimd"),
    (r"^(pbr-map|\s*pbr-policy)\b", "pbrd"),
    (r"^\s*vrrp \d+", "vrrpd"),
    (r"^(mpls ldp|\s*mpls ldp)\b", "ldpd"),
    (r"^(nhrp|\s*ip nhrp)\b", "nhrpd"),
)
KNOWN_DAEMONS = frozenset(
    {*ALWAYS_DAEMONS, "ospfd", "ospf6d", "isisd", "fabricd", "ripd", "ripngd", "eigrpd", "babeld", "bfdd",
     "pimd", "pbrd", "vrrpd", "ldpd", "nhrpd", "pathd", "sharpd"}
)


def default_frr_config(node: str) -> str:
    """An empty FRR configuration: the daemons run, `vtysh` works, deploy can push the real one later."""
    return (
        "frr version 8.4\n"
        "frr defaults datacenter\n"
        f"hostname {node}\n"
        "service integrated-vtysh-config\n"
        "!\n"
    )


@dataclass
class NodeStartup:
    """A node's startup material and where it came from (for `status` and messages)."""

    frr_config: str | None = None
    scripts: list[Path] = field(default_factory=list)
    daemons: tuple[str, ...] = ()
    #: Where the FRR configuration came from: rendered, startup-config, bind or empty.
    origin: str = "empty"
    #: True when `--configs` had output for this node (FRR config and/or scripts).
    rendered: bool = False
    #: Rendered pyvtep configuration (platform pyvtep): the node runs `vxauto vtep run` on it.
    pyvtep_config: Path | None = None


def daemons_for(config: str, daemons_file: str | None = None) -> tuple[str, ...]:
    """zebra, staticd, bgpd, plus what the configuration (or a bound FRR `daemons` file) asks for."""
    wanted = list(ALWAYS_DAEMONS)
    for pattern, daemon in DAEMON_STATEMENTS:
        if daemon not in wanted and re.search(pattern, config, flags=re.MULTILINE):
            wanted.append(daemon)
    if daemons_file:
        for match in re.finditer(r"^\s*([a-z0-9]+d)\s*=\s*yes\b", daemons_file, flags=re.MULTILINE):
            if match.group(1) in KNOWN_DAEMONS and match.group(1) not in wanted:
                wanted.append(match.group(1))
    return tuple(wanted)


def node_startups(topology: Topology, configs: Path | None) -> dict[str, NodeStartup]:
    """Decide every node's startup material; bad or mismatched rendered output raises `VxautoError`."""
    problems: list[Problem] = []
    if configs is not None and not configs.is_dir():
        raise VxautoError.single(str(configs), "", "--configs: directory not found")
    startups: dict[str, NodeStartup] = {}
    for name, node in topology.nodes.items():
        rendered = _rendered(configs, name) if configs is not None else None
        if configs is not None and rendered is not None and rendered.pyvtep_config is not None and \
                node.role is not Role.PYVTEP:
            problems.append(Problem(
                str(rendered.pyvtep_config), "", f"node {name} is no pyvtep node (kind {node.kind}, image "
                f"{node.image or 'none'}): give it a pyvtep image in {topology.file.name}",
            ))
        if node.role is Role.PYVTEP and (rendered is None or rendered.pyvtep_config is None):
            problems.append(Problem(
                str(topology.file), f"topology.nodes.{name}", "a pyvtep node needs its rendered pyvtep.yaml: "
                "render the inventory (platform pyvtep) and pass --configs",
            ))
        if configs is not None and rendered is not None and rendered.frr_config is not None and \
                node.role is not Role.FRR:
            problems.append(Problem(
                str(configs / name / "frr.conf"), "", f"node {name} runs no FRR (kind {node.kind}, image "
                f"{node.image or 'none'}): give it an FRR image or kind frr in {topology.file.name}",
            ))
        startup = rendered or NodeStartup()
        if node.role is Role.FRR and startup.frr_config is None:
            startup.frr_config, startup.origin = _topology_frr_config(topology, name)
        if node.role is Role.FRR:
            daemons_bind = topology.nodes[name].bind_for("/etc/frr/daemons")
            daemons_text = _read(daemons_bind.source) if daemons_bind else None
            startup.daemons = daemons_for(startup.frr_config or "", daemons_text)
        startups[name] = startup
    if configs is not None and not any(s.rendered for s in startups.values()):
        problems.append(Problem(
            str(configs), "", f"no rendered output for any node of {topology.file.name} (expected "
            f"<node>/frr.conf, <node>/*.sh or <node>.sh for nodes {', '.join(topology.nodes)})",
        ))
    VxautoError.collect(problems)
    return startups


def _rendered(configs: Path, name: str) -> NodeStartup | None:
    directory, single = configs / name, configs / f"{name}.sh"
    frr_config = None
    pyvtep_config = None
    scripts: list[Path] = []
    if directory.is_dir():
        if (directory / "frr.conf").is_file():
            frr_config = _read(directory / "frr.conf")
        if (directory / "pyvtep.yaml").is_file():
            pyvtep_config = (directory / "pyvtep.yaml").resolve()
        scripts = sorted(path for path in directory.glob("*.sh") if path.is_file())
    if single.is_file():
        scripts.append(single)
    if frr_config is None and not scripts and pyvtep_config is None:
        return None
    origin = f"rendered ({configs})" if frr_config is not None else "empty"
    return NodeStartup(frr_config=frr_config, scripts=scripts, origin=origin, rendered=True,
                       pyvtep_config=pyvtep_config)


def _topology_frr_config(topology: Topology, name: str) -> tuple[str, str]:
    node = topology.nodes[name]
    if node.startup_config is not None:
        return node.startup_config, f"startup-config ({node.startup_config_file or 'inline'})"
    bind = node.bind_for("/etc/frr/frr.conf")
    if bind is not None and bind.source.is_file():
        return _read(bind.source), f"bind ({bind.source})"
    return default_frr_config(name), "empty"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VxautoError.single(str(path), "", f"cannot read: {exc}") from None


def configs_digest(startups: dict[str, NodeStartup]) -> str:
    """Changes whenever any node's startup material changes (so a second `up` can tell)."""
    digest = hashlib.sha256()
    for name in sorted(startups):
        startup = startups[name]
        digest.update(name.encode() + b"\0" + (startup.frr_config or "").encode() + b"\0")
        if startup.pyvtep_config is not None:
            digest.update(startup.pyvtep_config.read_bytes() + b"\0")
        for script in startup.scripts:
            digest.update(str(script).encode() + b"\0" + script.read_bytes() + b"\0")
    return digest.hexdigest()
