"""How to reach a host, decided in one place for the CLI, Ansible, deploy and validate.

Two sources, never mixed up:

- a running lab (`--lab TOPOLOGY`): the lab handle says how to reach its nodes
  (`vxauto.lab.api.Lab.napalm_params`: the lab's key and known_hosts, the node's FRR pathspace, a
  per-node state directory). Every host must be a node of the lab at the management address the
  inventory names, so nothing lands on a different machine than the inventory says;
- the inventory: NAPALM parameters as nornir-napalm builds them (host fields plus
  `connection_options: napalm: {extras: {optional_args: ...}}`), SSH for probes from
  `connection_options: ssh: {extras: {key_file, known_hosts}}` (system known_hosts otherwise).

Before anything is contacted, a key or known_hosts file that is named but missing, or an SSH login
without key and password, is bad input naming the host and field (exit 2). After a failed connection,
`connection_fix` turns the library's text into what a person can do about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxauto.devices.registry import driver_class
from vxauto.errors import Problem, VxautoError
from vxauto.model.fabric import Fabric

if TYPE_CHECKING:
    from nornir.core.inventory import Host, Inventory

    from vxauto.lab.api import Lab

DEFAULT_TIMEOUT_S = 30
SSH_PORT = 22


@dataclass(frozen=True)
class DriverParams:
    """How to open one device with NAPALM (the arguments of `NetworkDriver.__init__`)."""

    driver: str
    hostname: str
    username: str | None
    password: str | None
    optional_args: dict[str, Any] = field(default_factory=dict)
    timeout: int = DEFAULT_TIMEOUT_S


def napalm_driver(params: DriverParams) -> Any:
    """A NAPALM driver instance (not yet opened) for these parameters, of the registry's class."""
    return driver_class(params.driver)(
        params.hostname, params.username, params.password, timeout=params.timeout,
        optional_args=dict(params.optional_args),
    )


@dataclass(frozen=True)
class SshTarget:
    """How to log in to a host over SSH (probes from endpoint hosts); host keys always checked."""

    host: str
    port: int
    username: str | None
    password: str | None
    key_file: str | None
    known_hosts: str | None


# --------------------------------------------------------------------------- lab


def attach_lab(topology: Path) -> Lab:
    """The running lab of `topology`; a lab that is not up is bad input naming the file."""
    from vxauto.lab import api  # the lab is optional for deploy and validate: imported only in lab mode

    try:
        return api.attach(topology)
    except api.LabError as error:
        raise VxautoError.single(str(topology), "", f"--lab: {error}") from None


def lab_optional_args(lab: Lab, node: str) -> dict[str, Any]:
    """The frr driver's optional_args for a node of a running lab."""
    return dict(lab.napalm_params(node)["optional_args"])


def lab_connection_options(
    fabric: Fabric, hosts: Sequence[str], lab_file: Path, lab: Lab | None = None
) -> dict[str, dict[str, Any]]:
    """Per host: hostname, username, port and NAPALM optional_args from the running lab of `lab_file`
    (attached here unless given): bad input when a host is not a node of it, or when the lab has the node
    at another address than the inventory."""
    lab = lab or attach_lab(lab_file)
    problems: list[Problem] = []
    options: dict[str, dict[str, Any]] = {}
    for name in hosts:
        if name not in lab.nodes:
            problems.append(Problem("hosts.yaml", name, f"not a node of lab {lab.name} ({lab_file})"))
            continue
        params = lab.napalm_params(name)
        written = fabric.hosts[name].hostname
        if written != params["hostname"]:
            problems.append(Problem("hosts.yaml", f"{name}.hostname", f"lab {lab.name} has this node at "
                                    f"{params['hostname']}; deploy refuses to connect elsewhere", written))
            continue
        options[name] = params
    VxautoError.collect(problems)
    return options


def lab_driver_params(options: Mapping[str, Any], driver: str) -> DriverParams:
    """NAPALM parameters from `lab_connection_options`' entry of one host (the port inside optional_args)."""
    optional_args: dict[str, Any] = dict(options.get("optional_args") or {})
    optional_args.setdefault("port", options.get("port") or SSH_PORT)
    return DriverParams(driver=driver, hostname=str(options["hostname"]), username=str(options["username"]),
                        password="", optional_args=optional_args)


def nornir_napalm_fields(host: Host, from_lab: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields of a host's Nornir NAPALM connection (all but the platform): the inventory's
    `connection_options: napalm:`, with the lab's hostname, username, port and optional_args over them when
    the host is reached through a lab (`lab_connection_options`)."""
    params = host.get_connection_parameters("napalm")
    extras = dict(params.extras or {})
    optional = dict(extras.get("optional_args") or {})
    lab = from_lab or {}
    optional.update(lab.get("optional_args", {}))
    extras["optional_args"] = optional
    return {"hostname": lab.get("hostname", params.hostname), "username": lab.get("username", params.username),
            "password": params.password, "port": lab.get("port", params.port), "extras": extras}


# --------------------------------------------------------------------------- inventory


def inventory_driver_params(host: Host, driver: str | None) -> DriverParams:
    """NAPALM parameters from the inventory's `connection_options: napalm:` of one host, the way
    nornir-napalm reads them (a platform there overrides the platform record's driver)."""
    options = host.get_connection_parameters("napalm")
    extras: dict[str, Any] = dict(options.extras or {})
    optional_args = dict(extras.pop("optional_args", None) or {})
    if options.port and "port" not in optional_args:
        optional_args["port"] = options.port
    if not options.hostname:
        raise VxautoError.single("hosts.yaml", f"{host.name}.hostname", "no hostname to connect to")
    return DriverParams(
        driver=str(options.platform if options.platform and options.platform != host.platform else driver),
        hostname=options.hostname, username=options.username, password=options.password or "",
        optional_args=optional_args, timeout=int(extras.pop("timeout", DEFAULT_TIMEOUT_S)),
    )


def inventory_ssh_targets(inventory: Inventory) -> dict[str, SshTarget]:
    """Every host's SSH login from `connection_options: ssh:` (hostname: the host's name if unset)."""
    targets: dict[str, SshTarget] = {}
    for name, host in inventory.hosts.items():
        options = host.get_connection_parameters("ssh")
        extras = options.extras or {}
        targets[name] = SshTarget(
            host=options.hostname or name, port=options.port or SSH_PORT, username=options.username,
            password=options.password, key_file=extras.get("key_file"), known_hosts=extras.get("known_hosts"),
        )
    return targets


# --------------------------------------------------------------------------- before connecting


def missing_connection_files(where: str, options: Mapping[str, Any]) -> list[Problem]:
    """The key_file / known_hosts that connection `options` name (at field path `where`, e.g.
    `leaf1.connection_options.napalm.extras.optional_args`) but that do not exist: bad input, found
    before any connection instead of a traceback from deep inside a connection library."""
    problems = []
    for name in ("key_file", "known_hosts"):
        value = options.get(name)
        if value and not Path(str(value)).expanduser().is_file():
            problems.append(Problem("hosts.yaml", f"{where}.{name}", f"no such file: fix the path, or pass --lab "
                                    f"FILE{' (host keys are always checked)' if name == 'known_hosts' else ''}",
                                    str(value)))
    return problems


def inventory_missing_files(inventory: Inventory) -> list[Problem]:
    """Key and known_hosts files that the inventory's NAPALM and SSH connection options name but that do
    not exist."""
    problems = []
    for name, host in inventory.hosts.items():
        napalm_extras = host.get_connection_parameters("napalm").extras or {}
        problems += missing_connection_files(f"{name}.connection_options.napalm.extras.optional_args",
                                             napalm_extras.get("optional_args") or {})
        problems += missing_connection_files(f"{name}.connection_options.ssh.extras",
                                             host.get_connection_parameters("ssh").extras or {})
    return problems


def login_problems(host: str, optional: Mapping[str, Any], password: str | None) -> list[Problem]:
    """What makes an SSH login of the frr driver impossible before trying it: no key and no password, or
    a key / known_hosts file that is not there (bad input: exit 2, nothing is contacted)."""
    where = f"{host}.connection_options.napalm.extras.optional_args"
    problems = []
    key_file = optional.get("key_file")
    if not key_file and not password:
        problems.append(Problem("hosts.yaml", where, "no SSH login for this host (no key_file, no password): pass "
                                "--lab FILE, or set key_file in connection_options"))
    return problems + missing_connection_files(where, optional)


# --------------------------------------------------------------------------- after a failed connection

#: (words in the error, the fix to suggest), first match wins: what a user can do about a failed connection.
_CONNECTION_FIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("badhostkey", "does not match"), "the host key differs from known_hosts: verify the device is the one "
                                        "you expect, then update its known_hosts entry"),
    (("not found in known_hosts", "unknown server", "known_hosts file"),
     "the host key is unknown: add it to known_hosts (ssh-keyscan, checked by hand) or set known_hosts in "
     "connection_options; for a lab, pass --lab FILE"),
    (("authentication", "permission denied", "no authentication methods"),
     "the login was refused: check username and key_file or password in connection_options; for a lab, pass "
     "--lab FILE"),
    (("key_file", "no such file", "private key"), "the key file is missing: set key_file in connection_options, "
                                                   "or pass --lab FILE for a lab"),
    (("refused", "unable to connect", "novalidconnections"),
     "nothing answers SSH there: check hostname and port in hosts.yaml and that sshd runs; for a lab, pass "
     "--lab FILE and check that it is up"),
    (("timed out", "timeout", "no route", "unreachable"),
     "no answer from that address: check hostname in hosts.yaml and the route to the management network"),
)


def connection_fix(cause: str) -> str:
    """The fix to suggest for a connection error text (host key, login, key file, refused, timeout)."""
    lowered = cause.lower().replace(" ", "")
    for words, fix in _CONNECTION_FIXES:
        if any(word.replace(" ", "") in lowered for word in words):
            return fix
    return "check the host's connection_options in the inventory, or pass --lab FILE for a lab"
