"""NAPALM's Junos driver plus the VXLAN getters (Junos JSON over NETCONF via PyEZ), with the SSH host key
checked (NAPALM builds PyEZ's Device without `hostkey_verify`, which PyEZ then leaves off).

Host keys come from `~/.ssh/known_hosts`, or from the `UserKnownHostsFile` of `ssh_config_file`;
`insecure_skip_verify: true` turns the check off for that host, with a warning.
"""

from __future__ import annotations

from typing import Any

from jnpr.junos import Device
from jnpr.junos.exception import ConnectAuthError, ConnectError, JSONLoadError, RpcError
from napalm.base.exceptions import ConnectionException
from napalm.junos import JunOSDriver
from ncclient.transport.errors import SessionCloseError, SSHUnknownHostError

from vxauto.devices.contract import VniTable, VtepTable
from vxauto.devices.drivers._verify import verified_args
from vxauto.devices.drivers._vxlan import VxlanReplies, rejected
from vxauto.devices.parsers import junos as parser


def closed_after_login(error: BaseException | None) -> bool:
    """Whether ncclient saw the device close the NETCONF channel right after the SSH login. It says so in one of
    two ways, depending on which side of the race it meets first: SessionCloseError (end of stream while reading
    the hello) or paramiko's OSError "Socket is closed" (while sending its own)."""
    return isinstance(error, SessionCloseError) or (isinstance(error, OSError) and str(error) == "Socket is closed")


class VxautoJunOSDriver(VxlanReplies, JunOSDriver):
    """`napalm.junos.JunOSDriver` with `get_vxlan_vnis()` and `get_vxlan_vteps()`."""

    vxlan_platform = parser.PLATFORM

    def __init__(
        self,
        hostname: str,
        username: str,
        password: str,
        timeout: int = 60,
        optional_args: dict[str, Any] | None = None,
    ) -> None:
        args, insecure = verified_args(optional_args, hostname, "SSH host key")
        super().__init__(hostname, username, password, timeout=timeout, optional_args=args)
        # the Device NAPALM built, again, with host-key checking (same arguments otherwise)
        extra: dict[str, Any] = {"ssh_private_key_file": self.key_file} if self.key_file else {}
        self.device = Device(hostname, user=username, password=password, port=self.port,
                             ssh_config=self.ssh_config_file, huge_tree=self.huge_tree,
                             hostkey_verify=not insecure, **extra)

    def open(self) -> None:
        """NAPALM's open, with PyEZ's connection errors told apart (PyEZ reports any SSH failure within
        3 s as "ConnectRefusedError", an unknown host key included)."""
        try:
            super().open()
        except ConnectAuthError:
            raise ConnectionException(f"{self.hostname}: login refused for user {self.username!r}: check username "
                                      "and key_file/password") from None
        except ConnectError as error:
            cause = error.__context__
            where = f"{self.hostname}:{self.port}"
            if isinstance(cause, SSHUnknownHostError):
                raise ConnectionException(
                    f"{self.hostname}: unknown host key: {where} is not in known_hosts (~/.ssh/known_hosts, or the "
                    "UserKnownHostsFile of ssh_config_file): add its verified key; the login was refused") from None
            if closed_after_login(cause):
                raise ConnectionException(
                    f"{self.hostname}: cannot open NETCONF on {where}: logged in, but the device closed the NETCONF "
                    "channel: enable NETCONF over SSH (`set system services netconf ssh`) or check the port") from None
            raise ConnectionException(f"{self.hostname}: cannot open NETCONF on {where}: "
                                      f"{type(cause or error).__name__}: {cause or error}") from None

    def _vxlan_output(self, command: str) -> object:
        try:
            # <command format="json">: the same document `| display json` prints
            return self.device.rpc.cli(command=command, format="json")
        except JSONLoadError as error:
            # PyEZ could not decode it (Junos 18.1's trailing commas): the parser repairs that
            return error.rpc_content
        except RpcError as error:
            return rejected(error)

    def get_vxlan_vnis(self) -> VniTable:
        return parser.get_vxlan_vnis(self._vxlan_reply)

    def get_vxlan_vteps(self) -> VtepTable:
        return parser.get_vxlan_vteps(self._vxlan_reply)
