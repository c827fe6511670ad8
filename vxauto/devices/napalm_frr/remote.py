"""One SSH session to a Linux/FRR device: Paramiko logs in, commands run in one plain `sh` per session.

A plain `paramiko.SSHClient` opens the connection: key or password authentication, the host key checked
against a known_hosts file (the one in optional_args, else the user's own) with Paramiko's RejectPolicy;
an unknown or changed host key refuses the connection. Host-key checking cannot be turned off through
this driver. An ssh_config file may give the address, port, user and a ProxyCommand/ProxyJump.

Commands then run in one non-interactive `sh` on an SSH channel of that transport, not by
screen-scraping an interactive shell (no login shell is started: on hosts with heavy rc files that costs
as much as a short command): the driver needs each command's exit status, stdout and stderr apart, and
several hundred kilobytes of JSON at a time. Each command is framed with a random marker that
carries its exit status; `batch` runs several commands in one round trip; `put_files` writes files
exactly (base64 through a here-document).
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from napalm.base.exceptions import CommandErrorException, CommandTimeoutException, ConnectionException
from paramiko.ssh_exception import NoValidConnectionsError

#: Seconds to wait for the server's banner and for the authentication to finish (Netmiko's defaults).
BANNER_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Completed:
    """One finished command."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def checked(self, host: str) -> Completed:
        if not self.ok:
            raise CommandErrorException(
                f"{host}: `{_short(self.command)}` failed (exit {self.returncode}): {tail(self.stderr or self.stdout)}"
            )
        return self


def tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


@dataclass(frozen=True)
class SshOptions:
    host: str
    username: str
    password: str | None
    port: int
    timeout: float
    key_file: str | None
    known_hosts: str | None
    ssh_config_file: str | None
    conn_timeout: float


def ssh_client(options: SshOptions) -> paramiko.SSHClient:
    """A Paramiko client that refuses unknown and changed host keys (known_hosts file, else the user's own)."""
    client = paramiko.SSHClient()
    if options.known_hosts is None:
        client.load_system_host_keys()
    else:
        client.load_host_keys(options.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def connect_params(options: SshOptions) -> dict[str, Any]:
    """`SSHClient.connect` arguments: a key login unless only a password is given; never the agent."""
    use_keys = bool(options.key_file) or not options.password
    params: dict[str, Any] = {
        "hostname": options.host,
        "port": options.port,
        "username": options.username,
        "password": options.password or None,
        "look_for_keys": use_keys,
        "allow_agent": False,
        "key_filename": options.key_file,
        "timeout": options.conn_timeout,
        "banner_timeout": BANNER_TIMEOUT_S,
    }
    if options.ssh_config_file:
        params.update(_from_ssh_config(options))
    return params


def _from_ssh_config(options: SshOptions) -> dict[str, Any]:
    """What an ssh_config file says for the host: its address, a port and user where none was set, and a
    proxy (ProxyCommand, or one ProxyJump hop through `ssh -W`)."""
    assert options.ssh_config_file is not None
    full_path = Path(options.ssh_config_file).expanduser().resolve()
    source: dict[str, Any] = {}
    if full_path.exists():
        config = paramiko.SSHConfig.from_path(str(full_path))
        source = dict(config.lookup(options.host))
    port = int(source["port"]) if options.port == 22 and "port" in source else options.port
    found: dict[str, Any] = {"hostname": source.get("hostname", options.host), "port": port}
    if not options.username and "user" in source:
        found["username"] = source["user"]
    if "proxycommand" in source:
        found["sock"] = paramiko.ProxyCommand(source["proxycommand"])
    elif "proxyjump" in source:
        hops = source["proxyjump"].split(",")
        if len(hops) > 1:
            raise ValueError(f"{options.host}: ProxyJump with more than one hop is not supported ({full_path})")
        target = f"{source.get('hostname', options.host)}:{source.get('port', options.port)}"
        found["sock"] = paramiko.ProxyCommand(f"ssh -F {full_path} -W {target} {hops[0]}")
    return found


class Session:
    """An open SSH session to one device."""

    def __init__(self, options: SshOptions) -> None:
        self.options = options
        self.host = options.host
        if options.known_hosts is not None and not Path(options.known_hosts).is_file():
            raise ConnectionException(f"{self.host}: known_hosts file {options.known_hosts} not found "
                                      "(host keys are always checked): fix known_hosts in optional_args, or pass "
                                      "--lab FILE")
        params = connect_params(options)
        if params["look_for_keys"] and not (options.key_file and Path(options.key_file).expanduser().is_file()):
            found = f"key_file {options.key_file} not found" if options.key_file else "no key_file and no password"
            raise ConnectionException(f"{self.host}: cannot log in: {found}: pass --lab FILE, or set key_file "
                                      "in connection_options")
        self._shell: paramiko.Channel | None = None
        self.client = ssh_client(options)
        try:
            self.client.connect(**params)
        except (paramiko.SSHException, OSError, EOFError) as error:
            self.client.close()
            raise ConnectionException(f"{self.host}: {connect_error(options, error)}") from None

    @property
    def transport(self) -> paramiko.Transport | None:
        return self.client.get_transport()

    def alive(self) -> bool:
        transport = self.transport
        return bool(transport is not None and transport.is_active())

    def close(self) -> None:
        if self._shell is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self._shell.close()
            self._shell = None
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):  # the peer may be gone
            self.client.close()

    def _open_shell(self, limit: float) -> paramiko.Channel:
        """One `sh` per connection, fed command after command on stdin.

        An exec channel per command would start the user's login shell every time, and bash run by sshd
        reads ~/.bashrc, which on many hosts is slow (pyenv, conda, prompts): one shell for the whole
        session pays that once.
        """
        transport = self.transport
        if transport is None or not transport.is_active():
            raise ConnectionException(f"{self.host}: the SSH session is closed")
        channel = transport.open_session(timeout=limit)
        channel.exec_command("exec sh")
        channel.sendall(b'VX_T=$(mktemp -d) || exit 97\ntrap \'rm -rf "$VX_T"\' EXIT\n')
        return channel

    def run(self, command: str, timeout: float | None = None) -> Completed:
        """Run one shell command (any `sh` text) and return its exit status and outputs.

        Never raises on a non-zero exit status; raises `ConnectionException` when the connection is
        lost and `CommandTimeoutException` after `timeout` seconds.
        """
        limit = timeout if timeout is not None else self.options.timeout
        token = secrets.token_hex(8)
        framed = (f"( {command}\n) </dev/null 2>\"$VX_T/err\"; vx_rc=$?\n"
                  f"printf '\\n@@vx {token} rc %s@@\\n' \"$vx_rc\"; cat \"$VX_T/err\"\n"
                  f"printf '@@vx {token} end@@\\n'\n")
        end = f"@@vx {token} end@@\n".encode()
        try:
            if self._shell is None or self._shell.closed or self._shell.exit_status_ready():
                self._shell = self._open_shell(limit)
            channel = self._shell
            channel.settimeout(limit)
            channel.sendall(framed.encode("utf-8"))
            received = bytearray()
            while not received.endswith(end):
                chunk = channel.recv(65536)
                if not chunk:
                    self._shell = None
                    raise ConnectionException(f"{self.host}: the connection closed during `{_short(command)}`")
                received += chunk
        except TimeoutError:
            self._drop_shell()
            raise CommandTimeoutException(f"{self.host}: `{_short(command)}` took longer than {limit:.0f}s") from None
        except (paramiko.SSHException, OSError, EOFError) as error:
            self._drop_shell()
            raise ConnectionException(f"{self.host}: SSH failed during `{_short(command)}`: {error}") from None
        text = received.decode("utf-8", "replace")
        match = re.search(rf"\n@@vx {token} rc (-?\d+)@@\n(.*)@@vx {token} end@@\n$", text, re.DOTALL)
        if match is None:  # cannot happen unless the shell itself misbehaves
            raise ConnectionException(f"{self.host}: unreadable answer to `{_short(command)}`")
        return Completed(command, int(match.group(1)), text[: match.start()], match.group(2))

    def _drop_shell(self) -> None:
        """A shell left mid-command cannot take the next one: close it, the next run opens another."""
        if self._shell is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self._shell.close()
            self._shell = None

    def batch(self, commands: dict[str, str], timeout: float | None = None) -> dict[str, Completed]:
        """Run several commands in one round trip (in order); results by name."""
        token = secrets.token_hex(6)
        parts = []
        for name, command in commands.items():
            parts.append(
                f"printf '%s\\n' '@@vx {token} begin {name}@@'\n"
                f"( {command}\n) </dev/null 2>\"$VX_T/berr\"; rc=$?\n"
                f"printf '\\n@@vx {token} rc %s@@\\n' \"$rc\"\n"
                f"cat \"$VX_T/berr\"\n"
                f"printf '@@vx {token} end@@\\n'"
            )
        result = self.run("\n".join(parts), timeout=timeout)
        return _split_batch(result, commands, token, self.host)

    def put_files(self, files: dict[str, str | bytes], then: str = "", timeout: float | None = None) -> Completed:
        """Write files on the device exactly (creating directories) and run `then`, in one round trip."""
        script = write_files_script(files) + (f"\n{then}\n" if then else "")
        return self.run(script, timeout=timeout).checked(self.host)


def write_files_script(files: dict[str, str | bytes], mode: str = "644") -> str:
    """Shell lines that write `files` byte-exactly (base64 here-documents, written then renamed)."""
    parts = ["set -e"]
    for path, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        quoted = shlex.quote(path)
        encoded = base64.encodebytes(data).decode("ascii")
        parts.append(f"mkdir -p \"$(dirname {quoted})\"\nbase64 -d > {quoted}.tmp <<'VXAUTO_EOF'\n"
                     f"{encoded}VXAUTO_EOF\nchmod {mode} {quoted}.tmp\nmv {quoted}.tmp {quoted}")
    return "\n".join(parts) + "\n"


def _split_batch(result: Completed, commands: dict[str, str], token: str, host: str) -> dict[str, Completed]:
    pattern = re.compile(
        rf"@@vx {token} begin (?P<name>.+?)@@\n(?P<out>.*?)\n@@vx {token} rc (?P<rc>-?\d+)@@\n"
        rf"(?P<err>.*?)@@vx {token} end@@\n",
        re.DOTALL,
    )
    found = {match["name"]: match for match in pattern.finditer(result.stdout)}
    missing = [name for name in commands if name not in found]
    if missing:
        raise CommandErrorException(
            f"{host}: a command batch ended early (exit {result.returncode}) before {', '.join(missing)}: "
            f"{tail(result.stderr or result.stdout)}"
        )
    return {
        name: Completed(command, int(found[name]["rc"]), found[name]["out"], found[name]["err"])
        for name, command in commands.items()
    }


def connect_error(options: SshOptions, error: BaseException) -> str:
    """Why the SSH login failed, and what fixes it (one line)."""
    where = f"{options.host}:{options.port}"
    known = options.known_hosts or "~/.ssh/known_hosts"
    if isinstance(error, paramiko.BadHostKeyException):
        return (f"host key mismatch: the key {where} presents is not the one {known} has for it (a reinstalled "
                "host, or someone in between): check the host, then correct known_hosts; the login was refused")
    if isinstance(error, paramiko.SSHException) and "not found in known_hosts" in str(error):
        return (f"unknown host key: {where} is not in {known}: add its verified key to known_hosts (or pass "
                "--lab FILE); the login was refused")
    if isinstance(error, paramiko.AuthenticationException):
        return (f"login refused for user {options.username!r} ({_first_line(error)}): check username and "
                "key_file/password in connection_options")
    if isinstance(error, TimeoutError):
        return (f"unreachable: no answer from {where} within {options.conn_timeout:.0f}s: check the address, "
                "the route and that sshd runs")
    if isinstance(error, NoValidConnectionsError):  # Paramiko's wrapper of the refused connect()s
        error = next(iter(error.errors.values()), error)
    if isinstance(error, OSError):
        reason = error.strerror or _first_line(error)
        return f"unreachable: cannot connect to {where} ({reason}): check the address, the port and that sshd runs"
    return f"SSH to {where} failed ({_first_line(error)}): check that sshd runs there and accepts logins"


def _short(command: str, limit: int = 80) -> str:
    flat = " ".join(command.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
