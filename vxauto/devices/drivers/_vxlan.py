"""What the VXLAN-getter driver subclasses share: turning a device's answer into a parser `Reply`.

Each driver only says how to send one show command over its transport (`_vxlan_output`); replies
the device rejects come back as CLI-style error text ("% ..."), which the parsers turn into a
`VxautoError` naming host, platform and command. Connection failures are NAPALM's own exceptions
and pass through untouched.
"""

from __future__ import annotations

from typing import ClassVar

from vxauto.devices.parsers.replies import Reply


class VxlanReplies:
    """Mixin for NAPALM drivers: `self._vxlan_reply(command)` for the parser modules' `Fetch`."""

    #: Platform name used in error messages and to pick the parser module.
    vxlan_platform: ClassVar[str]
    hostname: str

    def _vxlan_output(self, command: str) -> object:
        """The device's answer to `command` (decoded JSON, JSON text or CLI text)."""
        raise NotImplementedError

    def _vxlan_reply(self, command: str) -> Reply:
        return Reply(self.vxlan_platform, command, self._vxlan_output(command), self.hostname)


def rejected(message: object) -> str:
    """A device's refusal of a command, in the CLI's own form, so the parsers can report it."""
    text = str(message).strip()
    return text if text.startswith("%") else f"% {text}"
