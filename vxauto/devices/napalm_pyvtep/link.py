"""How the pyvtep driver reaches pyvtep: SSH into the host (as the FRR driver does), then its API socket.

pyvtep's management API is a unix socket on its own host (mode 0600, since it can reload the
configuration): nothing listens on the network. The driver logs in with the FRR driver's `Session`
(Paramiko, host keys always checked against known_hosts) and runs a short relay in the host's Python
(standard library only; pyvtep itself is Python, so `python3` is there) that sends the API requests,
one JSON line each, on one connection and prints the replies. Shell commands that read the kernel (link
state, addresses) go in the same round trip.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from napalm.base.exceptions import CommandErrorException, ConnectionException

from vxauto.devices.napalm_frr.remote import Completed, Session, tail

#: Seconds the relay waits for pyvtep's replies (a reload that adds or removes VNIs answers when applied).
API_TIMEOUT_S = 30.0
#: Exit status of the relay when nothing answers on the socket.
NOT_LISTENING = 3

RELAY = f"""
import socket, sys
path, requests = sys.argv[1], sys.argv[2:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout({API_TIMEOUT_S})
try:
    sock.connect(path)
except OSError as error:
    sys.stderr.write("%s: %s\\n" % (path, error.strerror or error))
    sys.exit({NOT_LISTENING})
sock.sendall("".join(request + "\\n" for request in requests).encode())
data = b""
while data.count(b"\\n") < len(requests):
    chunk = sock.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
"""


class PyvtepLink:
    """One SSH session to a pyvtep host and the API socket on it."""

    def __init__(self, session: Session, host: str, socket: str, python: str) -> None:
        self.session = session
        self.host = host
        self.socket = socket
        self.python = python

    def relay_command(self, requests: Sequence[Mapping[str, Any]]) -> str:
        lines = [json.dumps(dict(request), separators=(",", ":")) for request in requests]
        return " ".join([shlex.quote(self.python), "-c", shlex.quote(RELAY), shlex.quote(self.socket),
                         *(shlex.quote(line) for line in lines)])

    def read(self, requests: Sequence[Mapping[str, Any]], commands: Mapping[str, str] | None = None,
             timeout: float | None = None) -> tuple[list[Any], dict[str, Completed]]:
        """One round trip: the API requests (their results, in order) and shell `commands` (by name)."""
        batch = {"api": self.relay_command(requests), **(commands or {})}
        results = self.session.batch(batch, timeout=timeout or API_TIMEOUT_S + 10)
        return self.replies(results["api"], requests), results

    def ask(self, *requests: Mapping[str, Any]) -> list[Any]:
        return self.read(requests)[0]

    def replies(self, done: Completed, requests: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The results of the relay's replies; a pyvtep that does not answer or refuses is one line naming
        the host, the socket and what to do."""
        if done.returncode == NOT_LISTENING:
            raise ConnectionException(
                f"{self.host}: pyvtep's API does not answer on {self.socket} ({tail(done.stderr)}): check that "
                "pyvtep runs there (`vxauto vtep show status -c pyvtep.yaml`) and that optional_args api_socket "
                "names its api.socket")
        if done.returncode == 127:
            raise ConnectionException(f"{self.host}: no {self.python} to reach pyvtep's API with: set "
                                      "optional_args python to the host's Python 3")
        if not done.ok:
            raise CommandErrorException(f"{self.host}: pyvtep's API relay failed (exit {done.returncode}): "
                                        f"{tail(done.stderr or done.stdout)}")
        lines = done.stdout.splitlines()
        if len(lines) != len(requests):
            raise CommandErrorException(f"{self.host}: pyvtep's API at {self.socket} answered {len(lines)} of "
                                        f"{len(requests)} requests (did pyvtep stop?)")
        results = []
        for request, line in zip(requests, lines, strict=True):
            try:
                reply = json.loads(line)
            except ValueError:
                raise CommandErrorException(f"{self.host}: pyvtep's API sent invalid JSON for "
                                            f"{request['op']!r}: {line[:80]!r}") from None
            if not isinstance(reply, dict) or not reply.get("ok"):
                error = reply.get("error") if isinstance(reply, dict) else reply
                raise CommandErrorException(f"{self.host}: pyvtep refused {request['op']!r}: {error}")
            results.append(reply.get("result"))
        return results
