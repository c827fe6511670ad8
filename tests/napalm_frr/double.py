"""The test double of the Linux/FRR driver's SSH session: answers every command from a recorded file.

Layout as NAPALM's own drivers have it (napalm/test/<driver>/mocked_data/test_<getter>/<case>/): one file per
command the driver sends, named by NAPALM's `sanitize_text(command)` with `.txt`, plus `<name>.rc` when the
command exited non-zero, and `expected_result.json`. record.py writes them from the lab; `mock_key` turns the
lab's node-specific parts of a command (FRR pathspace, state directory, lldpd socket) into what the
patched driver, built without those options, sends.
"""

from __future__ import annotations

import re
from pathlib import Path

from napalm.base.test.double import BaseTestDouble

from vxauto.devices.napalm_frr.remote import Completed

MOCKED_DATA = Path(__file__).resolve().parent / "mocked_data"
#: The address the recordings were made through (leaf1's management address, inventory/hosts.yaml): the driver
#: keeps the interface of the address it is connected to out of the state it manages (get_config's kernel part).
RECORDED_HOST = "172.20.20.21"


def mock_key(command: str, replacements: dict[str, str] | None = None) -> str:
    for old, new in (replacements or {}).items():
        command = command.replace(old, new)
    # the FRR probe wrapper (`if command -v vtysh ...; then vtysh -c '...'; else exit 127; fi`) says nothing
    command = re.sub(r"^if command -v vtysh >/dev/null 2>&1; then (.*); else exit 127; fi$", r"\1", command)
    return BaseTestDouble.sanitize_text(command)


class FakeSession(BaseTestDouble):
    """`remote.Session` for the patched driver: `run`/`batch` read the current test case's files."""

    def find_file(self, filename: str) -> str:
        path = MOCKED_DATA / self.current_test / self.current_test_case / filename
        if not path.exists():
            raise OSError(f"Couldn't find file with mocked data: {path}")
        return str(path)

    @property
    def expected_result(self) -> object:
        return self.read_json_file(self.find_file("expected_result.json"))

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def run(self, command: str, timeout: float | None = None) -> Completed:
        key = mock_key(command)
        stdout = self.read_txt_file(self.find_file(f"{key}.txt"))
        rc_file = MOCKED_DATA / self.current_test / self.current_test_case / f"{key}.rc"
        returncode = int(rc_file.read_text()) if rc_file.exists() else 0
        return Completed(command, returncode, stdout, "")

    def batch(self, commands: dict[str, str], timeout: float | None = None) -> dict[str, Completed]:
        return {name: self.run(command) for name, command in commands.items()}

    def put_files(self, files: dict[str, str | bytes], then: str = "", timeout: float | None = None) -> Completed:
        raise AssertionError("a getter wrote files on the device")


class ReplaySession:
    """Every command recorded for the case, whichever getter's directory it was recorded in."""

    def __init__(self, case: str) -> None:
        self.files = {path.stem: path for path in sorted(MOCKED_DATA.glob(f"test_*/{case}/*.txt"))}

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def run(self, command: str, timeout: float | None = None) -> Completed:
        path = self.files[mock_key(command)]
        rc = path.with_suffix(".rc")
        return Completed(command, int(rc.read_text()) if rc.exists() else 0, path.read_text(), "")

    def batch(self, commands: dict[str, str], timeout: float | None = None) -> dict[str, Completed]:
        return {name: self.run(command) for name, command in commands.items()}
