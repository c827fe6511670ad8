"""Management API: one JSON object per line over a unix socket, request then reply.

Requests: `{"op": "status" | "vnis" | "vteps" | "macs" | "counters" | "evpn" | "config" | "reload" | "flush"}`;
`macs` takes an optional `"vni"`, `flush` an optional `"vni"` and `"macs"` (a list). `config` answers the file
`reload` reads (`path`, its text as `file`, None when there is none or it cannot be read) and the settings in
force (`running`, the loaded configuration as JSON): the two differ after an edit without a reload, or for
settings a reload cannot change.
Replies: `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`.
The socket file is created mode 0600 (the API can reload the config).

    echo '{"op": "macs"}' | socat - UNIX-CONNECT:/run/pyvtep/pyvtep.sock
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxauto.errors import VxautoError
from vxauto.vtep.packet import mac_bytes

if TYPE_CHECKING:
    from vxauto.vtep.engine import Engine

log = logging.getLogger("vxauto.vtep.api")

MAX_REQUEST = 64 * 1024
OPS = ("status", "vnis", "vteps", "macs", "counters", "evpn", "config", "reload")
ACTIONS = ("flush",)  # changes state: not one of the tables `vxauto vtep show` lists


def handle_request(engine: Engine, request: Any) -> dict[str, Any]:
    """Answer one decoded request; never raises (errors become `ok: false`)."""
    if not isinstance(request, dict) or request.get("op") not in (*OPS, *ACTIONS):
        return {"ok": False, "error": f"request must be a JSON object with op in {[*OPS, *ACTIONS]}"}
    op = request["op"]
    datapath = engine.datapath
    try:
        if op == "status":
            result: Any = engine.status()
        elif op == "vnis":
            result = datapath.vni_rows()
        elif op == "vteps":
            result = datapath.vtep_rows()
        elif op == "macs":
            vni = request.get("vni")
            if vni is not None and not isinstance(vni, int):
                return {"ok": False, "error": "vni must be an integer"}
            result = datapath.mac_rows(None if vni is None else [vni])
        elif op == "counters":
            result = datapath.counter_rows()
        elif op == "flush":
            vni, macs = request.get("vni"), request.get("macs")
            if (vni is not None and not isinstance(vni, int)) or (
                    macs is not None and not (isinstance(macs, list) and all(isinstance(m, str) for m in macs))):
                return {"ok": False, "error": "flush takes an integer vni and a list of MAC strings"}
            try:
                wanted = None if macs is None else {mac_bytes(m) for m in macs}
            except ValueError as exc:
                return {"ok": False, "error": str(exc)}
            result = datapath.flush(None if vni is None else [vni], wanted)
        elif op == "evpn":
            result = engine.evpn.status() if engine.evpn is not None else None
        elif op == "config":
            result = config_reply(engine)
        else:
            result = engine.reload().as_dict()
    except VxautoError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "result": result}


def config_reply(engine: Engine) -> dict[str, Any]:
    """The configuration file behind the engine and the configuration it runs (see the module docstring)."""
    path = engine.config_path
    text = None
    if path is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = path.read_text(encoding="utf-8")
    return {"path": None if path is None else str(path), "file": text,
            "running": engine.config.model_dump(mode="json")}


class ApiServer:
    """A non-blocking unix-socket server driven by the engine's epoll loop."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            _refuse_if_alive(path)
            path.unlink()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)
        try:
            self.listener.bind(str(path))
        finally:
            os.umask(old_mask)
        self.listener.listen(16)
        self.listener.setblocking(False)
        engine.register(self.listener.fileno(), lambda _mask: self._accept(), "api")

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        fd = conn.fileno()
        self.clients[fd] = (conn, bytearray())

        def read(_mask: int, fd: int = fd) -> None:
            self._read(fd)

        self.engine.register(fd, read, "api client")

    def _read(self, fd: int) -> None:
        conn, buffer = self.clients[fd]
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(fd)
            return
        buffer += chunk
        if len(buffer) > MAX_REQUEST:
            self._reply(conn, {"ok": False, "error": "request too large"})
            self._drop(fd)
            return
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            try:
                request = json.loads(line)
            except ValueError:
                reply: dict[str, Any] = {"ok": False, "error": "request is not valid JSON"}
            else:
                reply = handle_request(self.engine, request)
            if not self._reply(conn, reply):
                self._drop(fd)
                return

    @staticmethod
    def _reply(conn: socket.socket, reply: dict[str, Any]) -> bool:
        data = json.dumps(reply, default=str).encode() + b"\n"
        conn.setblocking(True)
        conn.settimeout(2.0)  # a client that does not read its reply must not stall the datapath for long
        try:
            conn.sendall(data)
        except OSError:
            return False
        finally:
            conn.setblocking(False)
        return True

    def _drop(self, fd: int) -> None:
        self.engine.unregister(fd)
        conn, _ = self.clients.pop(fd)
        conn.close()

    def stop(self) -> None:
        for fd in list(self.clients):
            self._drop(fd)
        self.engine.unregister(self.listener.fileno())
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _refuse_if_alive(path: Path) -> None:
    """A socket file another pyvtep still answers on must not be stolen."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(str(path))
    except OSError:
        return  # stale file from a crashed run
    finally:
        probe.close()
    raise VxautoError.single(str(path), "api.socket", "another pyvtep is listening on this socket")


def request(path: Path, op: str, timeout: float = 5.0, **arguments: Any) -> Any:
    """Client side: send one request and return its `result`; raise VxautoError on any failure."""
    message = json.dumps({"op": op, **arguments}).encode() + b"\n"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(message)
        data = _read_line(sock)
    except OSError as exc:
        raise VxautoError.single(str(path), "", f"pyvtep API not reachable: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        reply = json.loads(data)
    except ValueError:
        raise VxautoError.single(str(path), "", "pyvtep API sent invalid JSON", data[:80]) from None
    if not reply.get("ok"):
        raise VxautoError.single(str(path), op, f"pyvtep API error: {reply.get('error')}")
    return reply["result"]


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)

