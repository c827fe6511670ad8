"""Host-key checks against a real sshd on 127.0.0.1 (no network namespace, so no lab): the Junos driver's
NETCONF transport (PyEZ -> ncclient) and the Linux/FRR driver refuse a host whose key they do not know, and
get past the key check when known_hosts has it (positive control: then the failure, if any, is a later one).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jnpr.junos.exception import ConnectError
from napalm.base.exceptions import ConnectionException
from ncclient.transport.errors import SSHUnknownHostError

from vxauto.devices.access import SshTarget
from vxauto.devices.drivers import VxautoJunOSDriver
from vxauto.devices.drivers._verify import InsecureTransportWarning
from vxauto.devices.drivers.junos import closed_after_login
from vxauto.devices.napalm_frr.driver import FrrDriver
from vxauto.lab import netns
from vxauto.lab.sshkeys import ensure_keypair, sshd_config_text
from vxauto.validate.dataplane import SshShell


@dataclass
class Sshd:
    port: int
    login_key: Path
    host_key_line: str  # "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    work: Path

    def known_hosts(self, name: str, lines: str) -> Path:
        path = self.work / name
        path.write_text(lines)
        return path

    def ssh_config(self, known_hosts: Path) -> Path:
        path = self.work / f"ssh_config-{known_hosts.name}"
        path.write_text(f"Host *\n  UserKnownHostsFile {known_hosts}\n")
        return path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if os.geteuid() != 0 or not netns.SSHD.exists():
        pytest.skip("needs root and /usr/sbin/sshd")
    work = tmp_path_factory.mktemp("sshd")
    login = ensure_keypair(work / "login", "vxauto test login")
    host = ensure_keypair(work / "host_key", "vxauto test host")
    authorized = work / "authorized_keys"
    authorized.write_text(login.public_line() + "\n")
    with socket.socket() as probe:  # a free port for sshd (it binds it right after)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = work / "sshd_config"
    config.write_text(sshd_config_text(f"127.0.0.1:{port}", host.private, authorized, work / "sshd.pid"))
    netns.SSHD_PRIVSEP.mkdir(parents=True, exist_ok=True)
    # in a private mount namespace with the login user's start-up files masked, as in a lab node: the
    # machine's ~/.bashrc (pyenv) must not decide whether NETCONF's subsystem starts in time
    masked = ["unshare", "--mount", "--propagation", "private", "sh", "-c", netns.start_files_mask() + 'exec "$@"',
              "vxauto-sshd"]
    daemon = subprocess.Popen([*masked, str(netns.SSHD), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE,
                              text=True)
    try:
        assert daemon.stderr is not None
        line = daemon.stderr.readline()  # sshd's own sign that it listens
        assert f"Server listening on 127.0.0.1 port {port}" in line, line
        yield Sshd(port, login.private, f"[127.0.0.1]:{port} {host.public_key()}", work)
    finally:
        daemon.terminate()
        daemon.wait()


def transport_error(error: BaseException) -> BaseException | None:
    """What ncclient raised under PyEZ's ConnectError (PyEZ maps any quick SSH failure to "refused")."""
    return error.__context__


def junos(sshd: Sshd, known_hosts: Path, **extra: object) -> VxautoJunOSDriver:
    return VxautoJunOSDriver("127.0.0.1", "root", "", timeout=10, optional_args={
        "port": sshd.port, "key_file": str(sshd.login_key), "ssh_config_file": str(sshd.ssh_config(known_hosts)),
        **extra})


def test_junos_refuses_an_unknown_host_key(sshd: Sshd) -> None:
    empty = sshd.known_hosts("empty", "")
    with pytest.raises(ConnectError) as caught:
        junos(sshd, empty).device.open()
    assert isinstance(transport_error(caught.value), SSHUnknownHostError), transport_error(caught.value)


def test_junos_open_names_the_unknown_host_key(sshd: Sshd) -> None:
    empty = sshd.known_hosts("empty", "")
    with pytest.raises(ConnectionException, match=rf"^127\.0\.0\.1: unknown host key: 127\.0\.0\.1:{sshd.port} is "
                       r"not in known_hosts .*the login was refused$"):
        junos(sshd, empty).open()
    known = sshd.known_hosts("known", sshd.host_key_line + "\n")
    # positive control: past the key, this sshd has no NETCONF subsystem
    with pytest.raises(ConnectionException, match=rf"^127\.0\.0\.1: cannot open NETCONF on 127\.0\.0\.1:{sshd.port}: "
                       r"logged in, but the device closed the NETCONF channel: enable NETCONF over SSH"):
        junos(sshd, known).open()


def test_only_a_closed_channel_counts_as_closed_after_login() -> None:
    assert closed_after_login(OSError("Socket is closed"))
    assert not closed_after_login(OSError("Connection refused"))
    assert not closed_after_login(SSHUnknownHostError("127.0.0.1", b"key"))
    assert not closed_after_login(None)


def test_junos_gets_past_a_known_host_key(sshd: Sshd) -> None:
    """Positive control: the key known, ncclient logs in and asks for NETCONF, which this sshd lacks."""
    known = sshd.known_hosts("known", sshd.host_key_line + "\n")
    with pytest.raises(ConnectError) as caught:
        junos(sshd, known).device.open()
    # logged in: the session closes because this sshd has no NETCONF subsystem
    assert closed_after_login(transport_error(caught.value)), repr(transport_error(caught.value))


def test_junos_opt_out_skips_the_host_key_check(sshd: Sshd) -> None:
    empty = sshd.known_hosts("empty", "")
    with pytest.warns(InsecureTransportWarning, match="SSH host key is NOT verified"):
        driver = junos(sshd, empty, insecure_skip_verify=True)
    with pytest.raises(ConnectError) as caught:
        driver.device.open()
    # logged in: the session closes because this sshd has no NETCONF subsystem
    assert closed_after_login(transport_error(caught.value)), repr(transport_error(caught.value))


def frr(sshd: Sshd, known_hosts: Path) -> FrrDriver:
    return FrrDriver("127.0.0.1", "root", "", timeout=10, optional_args={
        "port": sshd.port, "key_file": str(sshd.login_key), "known_hosts": str(known_hosts), "frr": False})


def test_frr_driver_names_an_unknown_host_key(sshd: Sshd) -> None:
    empty = sshd.known_hosts("empty", "")
    with pytest.raises(ConnectionException, match=rf"^127\.0\.0\.1: unknown host key: 127\.0\.0\.1:{sshd.port} is "
                       rf"not in {empty}: add its verified key to known_hosts"):
        frr(sshd, empty).open()
    device = frr(sshd, sshd.known_hosts("known", sshd.host_key_line + "\n"))  # positive control
    device.open()
    try:
        assert device.is_alive() == {"is_alive": True}
    finally:
        device.close()


def test_probe_shell_logs_in_again_after_its_connection_died(sshd: Sshd) -> None:
    """validate's probe shell: a connection that died (seen in CI: `SSH session not active`) is replaced at
    the next command instead of failing every later command of that node for the rest of the run."""
    known = sshd.known_hosts("known", sshd.host_key_line + "\n")
    shell = SshShell({"h2": SshTarget("127.0.0.1", sshd.port, "root", None, str(sshd.login_key), str(known))})
    try:
        first = shell.run("h2", "echo one")
        assert (first.returncode, first.stdout, first.transport_error) == (0, "one\n", False)
        shell._clients["h2"].get_transport().close()  # the connection dies between two probes
        second = shell.run("h2", "echo two")
        assert (second.returncode, second.stdout, second.transport_error) == (0, "two\n", False), second
        assert shell.unreachable() == {}
    finally:
        shell.close()
