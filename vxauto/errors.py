"""Errors a user can act on.

Every error that comes from bad input (intent, topology file, packet, capture, device reply) is a
`VxautoError`: it names the file, the path inside it and the offending value. The CLI prints these
without a traceback and exits with `EXIT_BAD_INPUT`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what is wrong."""

    file: str
    path: str
    message: str
    value: object = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        location = f"{where}: {self.path}" if self.path else where
        shown = "" if self.value is None else f" (got {self.value!r})"
        return f"{location}: {self.message}{shown}"


@dataclass
class VxautoError(Exception):
    """Bad input. Carries one or more problems; the CLI turns it into exit code 2."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @classmethod
    def single(
        cls, file: str, path: str, message: str, value: object = None, line: int | None = None
    ) -> VxautoError:
        return cls([Problem(file, path, message, value, line)])

    @classmethod
    def collect(cls, problems: Iterable[Problem]) -> None:
        """Raise if there is any problem; a no-op otherwise."""
        found = list(problems)
        if found:
            raise cls(found)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


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
