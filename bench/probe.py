"""One end of a bidirectional UDP probe stream, run inside a lab node for bench/mobility.py.

Sends `--pps` numbered datagrams per second to the peer and records every datagram it receives from it; on
SIGTERM writes `{"sent", "received": [seq, ...], "elapsed"}` to `--out`. Readiness: `--ready` is written once the
socket is bound, and `--flowing` once the first datagram from the peer arrived (the stream is up).

    python bench/probe.py --bind 10.40.10.1 --peer 10.40.10.4 --pps 1000 --ready R --flowing F --out O
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import struct
import threading
import time
from pathlib import Path

PORT = 47000
HEADER = struct.Struct("!Q")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("--pps", type=int, default=1000)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--flowing", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, PORT))
    received: list[int] = []
    sent = 0
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            try:
                data, _ = sock.recvfrom(2048)
            except OSError:
                return
            if not received:
                args.flowing.write_text("flowing\n")
            received.append(HEADER.unpack_from(data)[0])

    def finish(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    threading.Thread(target=receive, daemon=True).start()
    args.ready.write_text("ready\n")
    interval = 1.0 / args.pps
    start = time.monotonic()
    while not stop.is_set():
        # a send may fail while the NIC has no carrier (mid-move): that datagram is lost, as on a wire
        with contextlib.suppress(OSError):
            sock.sendto(HEADER.pack(sent) + b"\0" * 56, (args.peer, PORT))
        sent += 1
        delay = start + sent * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - start
    args.out.write_text(json.dumps({"sent": sent, "received": received, "elapsed": elapsed}))


if __name__ == "__main__":
    main()
