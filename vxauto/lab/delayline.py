"""A userspace delay line: delay, jitter, loss and corruption on one interface's egress where the kernel has no netem.

The netns runtime redirects everything the impaired interface sends (tc clsact egress, u32 match-all,
mirred redirect) into a private veth pair; this process reads the frames on the far end of that pair,
holds each one for the delay (plus a uniform jitter in [-jitter, +jitter], as netem does without a
distribution), drops the configured share, and sends the rest on the impaired interface with
PACKET_QDISC_BYPASS, so they leave without passing the redirect again. Runs inside the node's namespace:

    python -m vxauto.lab.delayline --capture eth3-dl1 --send eth3 --delay-ms 10 --ready FILE

Readiness is the `--ready` file, written once both sockets are bound.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import random
import socket
import threading
import time
from pathlib import Path

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
PACKET_OUTGOING = 4
FRAME_MAX = 65_536
ETH_HEADER = 14


class DelayLine:
    def __init__(self, capture: str, send: str, delay: float, jitter: float, loss: float, corruption: float,
                 seed: int | None) -> None:
        self.delay, self.jitter, self.loss, self.corruption = delay, jitter, loss, corruption
        self.random = random.Random(seed)
        self.inbound = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.inbound.bind((capture, ETH_P_ALL))
        self.inbound.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.outbound = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.outbound.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        self.outbound.bind((send, 0))
        self.queue: list[tuple[float, int, bytes]] = []
        self.ready = threading.Condition()
        self.sequence = 0

    def receive_forever(self) -> None:
        while True:
            frame, address = self.inbound.recvfrom(FRAME_MAX)
            if address[2] == PACKET_OUTGOING:  # our own end's transmissions: not traffic of the link
                continue
            if self.loss and self.random.random() * 100 < self.loss:
                continue
            if self.corruption and self.random.random() * 100 < self.corruption and len(frame) > ETH_HEADER:
                frame = self._corrupt(frame)
            due = time.monotonic() + max(0.0, self.delay + self.random.uniform(-self.jitter, self.jitter))
            with self.ready:
                self.sequence += 1
                heapq.heappush(self.queue, (due, self.sequence, frame))
                self.ready.notify()

    def _corrupt(self, frame: bytes) -> bytes:
        """One flipped bit past the Ethernet header, like netem's corrupt."""
        position = self.random.randrange(ETH_HEADER, len(frame))
        damaged = bytearray(frame)
        damaged[position] ^= 1 << self.random.randrange(8)
        return bytes(damaged)

    def send_forever(self) -> None:
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                due, _, frame = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.ready.wait(wait)  # a frame with an earlier due time may arrive meanwhile (jitter)
                    continue
                heapq.heappop(self.queue)
            with contextlib.suppress(OSError):  # link down or frame too large: dropped, as on a wire
                self.outbound.send(frame)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vxauto.lab.delayline", description=__doc__.splitlines()[0])
    parser.add_argument("--capture", required=True, help="interface to read the redirected frames from")
    parser.add_argument("--send", required=True, help="the impaired interface (frames leave here)")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0, help="percent of frames dropped")
    parser.add_argument("--corruption", type=float, default=0.0, help="percent of frames with a flipped bit")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--ready", type=Path, required=True, help="file written once the sockets are bound")
    args = parser.parse_args(argv)
    line = DelayLine(args.capture, args.send, args.delay_ms / 1000, args.jitter_ms / 1000, args.loss, args.corruption,
                     args.seed)
    sender = threading.Thread(target=line.send_forever, daemon=True)
    sender.start()
    args.ready.write_text("ready\n", encoding="ascii")
    line.receive_forever()


if __name__ == "__main__":
    main()
