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

