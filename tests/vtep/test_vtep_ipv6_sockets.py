"""The batched send/receive paths with IPv6 destinations and sources, on this host's ::1 (no namespace).

sendmmsg/recvmmsg and UDP GSO take socket addresses as raw bytes: sockaddr_in6 is 28 bytes, not 16,
and a received one carries the address at another offset. These check both against Python's socket
module, an independent implementation of the same structures.
"""

from __future__ import annotations

import ctypes
import socket
from collections.abc import Iterator

import pytest

from vxauto.vtep import kernel


@pytest.fixture
def loopback6() -> Iterator[tuple[socket.socket, socket.socket]]:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        receiver = kernel.udp_socket("::1", 0, df=True, checksum=True, gro=False, buffer_bytes=1 << 20)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    sender = kernel.udp_socket("::1", 0, df=True, checksum=True, gro=False, buffer_bytes=1 << 20)
    receiver.setblocking(False)
    try:
        yield sender, receiver
    finally:
        sender.close()
        receiver.close()


def test_sockaddr_in6_is_what_the_kernel_reports() -> None:
    packed = kernel.sockaddr("fd00:77::2", 4789)
    assert len(packed) == kernel.SOCKADDR_IN6_SIZE == 28 and kernel.sockaddr_size(True) == 28
    assert int.from_bytes(packed[:2], "little") == socket.AF_INET6
    assert int.from_bytes(packed[2:4], "big") == 4789
    assert socket.inet_ntop(socket.AF_INET6, packed[8:24]) == "fd00:77::2"
    assert kernel.sockaddr("10.0.0.2", 4789) == kernel.sockaddr_in("10.0.0.2", 4789)  # IPv4 unchanged


def test_sendmmsg_and_gso_to_ipv6_and_recvmmsg_source(loopback6: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = loopback6
    port = receiver.getsockname()[1]
    batch = kernel.SendBatch(4, kernel.SOCKADDR_IN6_SIZE)
    payloads = [ctypes.create_string_buffer(bytes([65 + i]) * 100, 100) for i in range(3)]
    destination = kernel.sockaddr("::1", port)
    for i, buffer in enumerate(payloads):
        kernel.IOVEC.pack_into(batch.iovecs, i * kernel.IOVEC.size, ctypes.addressof(buffer), 100)
        batch.name_view[i * batch.name_size : (i + 1) * batch.name_size] = destination
    assert batch.send_range(sender.fileno(), 0, 2) == set()  # two datagrams by sendmmsg
    assert batch.send_gso(sender.fileno(), 0, 3, 100)  # three more, cut by UDP GSO
    received = kernel.RecvBatch(8, 2048, 16)
    got = received.receive(receiver.fileno())
    assert got == 5
    assert [received.length(i) for i in range(got)] == [100] * 5
    first = [bytes(received.view[i * 2048 + 16 : i * 2048 + 17]) for i in range(got)]
    assert first == [b"A", b"B", b"A", b"B", b"C"]
    assert {received.source_ip(i) for i in range(got)} == {socket.inet_pton(socket.AF_INET6, "::1")}
