"""The pyvtep daemon: TAPs, underlay sockets, the epoll loop, signals, reload and shutdown.

One thread moves packets (epoll, level-triggered, a budget per ready descriptor so no side starves);
the EVPN agent runs its slow `gobgp` commands in a worker thread. Per-packet decisions are in
`Datapath`; this module only moves bytes between file descriptors and preallocated buffers:

* TAP -> underlay: `readv` straight into a send slot (virtio-net header and frame), the VXLAN header
  overwrites the virtio-net header in place, and queued frames leave by `sendmmsg`, one call per run of
  frames with the same outer source port. TSO/USO super-frames are cut into wire frames and leave as
  one UDP GSO `sendmsg` per remote VTEP; TCP ones are cut by numpy, all segments at once, straight into
  one contiguous GSO buffer (`vectorised_gso.segment_tcp_gso`).
* underlay -> TAP: `recvmmsg` (with UDP GRO, several datagrams per slot), `Datapath.accept`, then
  consecutive TCP segments of one flow are written to the TAP as one super-frame (software GRO).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import signal
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vxauto.errors import VxautoError
from vxauto.vtep import kernel
from vxauto.vtep.block_encap import BlockEncapsulator
from vxauto.vtep.coalescing import (
    TcpRun,
    UdpRun,
    coalescable_key,
    start_run,
    start_udp_run,
    super_frame,
    tcp_segment_ok,
    try_extend,
    try_extend_udp,
    udp_run_key,
    udp_super_frame,
)
from vxauto.vtep.config import PyvtepConfig, VniConfig, load_config
from vxauto.vtep.datapath import Datapath, Segment
from vxauto.vtep.fdb import Entry
from vxauto.vtep.headers import (
    OffloadError,
    parse_layers,
    partial_checksum_header,
)
from vxauto.vtep.kernel import (
    VNET_F_NEEDS_CSUM,
    VNET_GSO_ECN,
    VNET_GSO_TCPV4,
    VNET_GSO_TCPV6,
    VNET_HDR,
    VNET_HDR_LEN,
    VNET_ZERO,
    RecvBatch,
    SendBatch,
)
from vxauto.vtep.links import LinkError, configure_tap, detach_from_bridge, is_bridge, remove_address
from vxauto.vtep.packet import ETH_HEADER_LEN, IPPROTO_TCP, VXLAN_HEADER_LEN, flow_key, ip_text
from vxauto.vtep.packet_ring import VNET_FLAGS_BEFORE, Frames, PacketRing, ring_available
from vxauto.vtep.segmentation import (
    segment,
)
from vxauto.vtep.tunnel import OUTER_LEN, KernelSegmenter, gso_tap_name
from vxauto.vtep.vectorised_gso import (
    gso_scratch,
    segment_tcp_gso,
    vectorised_segmentation_available,
)

log = logging.getLogger("vxauto.vtep")

SLOT_SIZE = 65600  # a 64 KiB super-frame + virtio-net header + Ethernet header, rounded up
TX_HEADROOM = 4  # slot: [4 pad][12 virtio-net | 8 of it become the VXLAN header][frame]
RX_HEADROOM = 16  # slot: [16 spare][8 VXLAN][frame]: room to prepend a virtio-net header in place
UDP_MAX_PAYLOAD = 65507
GSO_MAX_SEGMENTS = 64
SUPER_FRAME_LIMIT = 65535  # IPv4 total length of a coalesced frame
SOCKET_BUFFER = 8 * 1024 * 1024
GSO_MIN_RUN = 4  # fewer equal datagrams in a row are not worth a separate sendmsg
_COALESCE_MIN = 128  # smaller TCP frames (ACKs, keepalives) are not worth trying to merge
_VNET_CSUM = struct.Struct("<HH")
_TCP_GSO_TYPES = frozenset({VNET_GSO_TCPV4, VNET_GSO_TCPV6})


@dataclass
class Handler:
    callback: Callable[[int], None]
    name: str


@dataclass
class ReloadResult:
    applied: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"applied": self.applied, "needs_restart": self.needs_restart}


class Engine:
    """Everything a running pyvtep owns; `start()`, then `run()` until SIGTERM, then `close()`."""

    def __init__(self, config: PyvtepConfig, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.datapath = Datapath(config)
        self.epoll = select.epoll()
        self.handlers: dict[int, Handler] = {}
        self.running = False
        self.reload_requested = False
        self.started_at = time.time()
        self.rx_sock: socket.socket | None = None
        self.tx_socks: list[socket.socket] = []
        self.group_socks: dict[str, socket.socket] = {}
        self.tx_fds: list[int] = []
        self.remote_cache: dict[bytes, str] = {}
        self.sockaddr_cache: dict[str, bytes] = {}
        self.pending: list[tuple[Segment, memoryview, bytes | None]] = []
        self.evpn: EvpnHook | None = None
        self.segmenter: KernelSegmenter | None = None
        self.api: ApiHook | None = None
        self.rings: dict[int, PacketRing] = {}  # VNI -> its packet ring (datapath: packet-ring)
        self.block_encap: BlockEncapsulator | None = None
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._old_signals: dict[int, object] = {}
        self._build_buffers(config.batch)

    # --- buffers -------------------------------------------------------------------------------

    def _build_buffers(self, batch: int) -> None:
        import ctypes

        self.batch = batch
        self.rx_batch = RecvBatch(batch, SLOT_SIZE, RX_HEADROOM)
        self.rx_view = self.rx_batch.view
        self.tx_slots = ctypes.create_string_buffer(batch * SLOT_SIZE)
        self.tx_base = ctypes.addressof(self.tx_slots)
        whole = memoryview(self.tx_slots).cast("B")
        self.tx_views = [whole[i * SLOT_SIZE : (i + 1) * SLOT_SIZE] for i in range(batch)]
        self.tx_read_iov = [(view[TX_HEADROOM:],) for view in self.tx_views]
        self.tx_slot = 0
        name_size = kernel.sockaddr_size(self.config.ipv6)  # sockaddr_in or sockaddr_in6 per destination
        self.send_batch = SendBatch(batch * 4, name_size)
        self.send_meta: list[tuple[int, int]] = []  # per queued datagram: (source port index, frame bytes)
        self.segment_batch = kernel.SegmentBatch(GSO_MAX_SEGMENTS, name_size)
        self.gso_scratch = gso_scratch() if vectorised_segmentation_available() else None
        self.gso_controls: dict[int, list[tuple[int, int, bytes]]] = {}

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the underlay sockets and TAPs, install signal handlers; raise VxautoError on bad input."""
        if self.config.datapath == "packet-ring" and ring_available() is not None:
            raise VxautoError.single(str(self.config_path or "config"), "datapath", ring_available() or "",
                                     "packet-ring")
        try:
            self._open_underlay()
            for segment in list(self.datapath.segments.values()):
                self._open_tap(segment)
        except Exception:
            self.close()
            raise
        self._install_signals()
        self.running = True
        log.info("pyvtep %s up: %s port %d, VNIs %s, datapath %s", self.config.name, self.config.local_ip,
                 self.config.port, sorted(self.datapath.segments), self.config.datapath)

    def _open_underlay(self) -> None:
        config = self.config
        local = str(config.local_ip)
        try:
            self.rx_sock = kernel.udp_socket(local, config.port, df=config.df, checksum=config.udp_checksum,
                                             gro=config.offload, buffer_bytes=SOCKET_BUFFER)
        except OSError as exc:
            raise VxautoError.single(
                str(self.config_path or "config"), "local_ip/port", f"cannot bind the VXLAN port: {exc.strerror}",
                f"{local}:{config.port}") from None
        self.rx_sock.setblocking(False)
        self._register(self.rx_sock.fileno(), lambda _mask: self._drain_underlay(), "underlay")
        low, high = config.source_port_range
        for port in range(low, high + 1):
            try:
                sock = kernel.udp_socket(local, port, df=config.df, checksum=config.udp_checksum, gro=False,
                                         buffer_bytes=SOCKET_BUFFER)
            except OSError as exc:
                raise VxautoError.single(str(self.config_path or "config"), "source_ports",
                                         f"cannot bind source port: {exc.strerror}", port) from None
            self.tx_socks.append(sock)
        self.tx_fds = [sock.fileno() for sock in self.tx_socks]
        for sock in self.tx_socks:
            kernel.send_multicast_on(sock, config.underlay_interface)
        self._sync_groups()
        self.source_ports = list(range(low, high + 1))
        # UDP GSO refuses SO_NO_CHECK sockets; without it segments leave in one sendmmsg instead.
        self.gso = config.offload and config.udp_checksum
        if config.offload and config.kernel_segmentation and config.ipv6:
            # The GSO TAP path builds outer IPv4 headers (VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4) only.
            log.info("kernel segmentation off (IPv6 underlay): pyvtep cuts TCP super-frames itself")
        elif config.offload and config.kernel_segmentation:
            self.segmenter = self._open_segmenter()

    def _open_segmenter(self) -> KernelSegmenter | None:
        """The GSO TAP for kernel segmentation, or None (logged) where this kernel or host cannot have it."""
        config = self.config
        name = gso_tap_name(config.name)
        try:
            segmenter = KernelSegmenter(name, str(config.local_ip), config.port, config.df, config.udp_checksum)
        except (OSError, ValueError, LinkError) as exc:
            log.info("kernel segmentation off (%s): pyvtep cuts TCP super-frames itself", exc)
            return None
        log.info("kernel segmentation through %s", name)
        return segmenter

    def _open_tap(self, segment: Segment) -> None:
        vni = segment.config
        name = vni.tap_name
        where = f"vnis[vni={vni.vni}]"
        if vni.bridge is not None and not is_bridge(vni.bridge):
            raise VxautoError.single(str(self.config_path or "config"), f"{where}.bridge",
                                     "bridge not found (pyvtep attaches to an existing bridge)", vni.bridge)
        if self.config.datapath == "packet-ring":
            self._open_ring(segment)
            return
        offload = kernel.tap_offload_flags(tso=self.config.offload, uso=self.config.offload)
        try:
            tap = kernel.open_tap(name, offload)
        except (OSError, ValueError) as exc:
            raise VxautoError.single(str(self.config_path or "config"), f"{where}.tap",
                                     f"cannot open TAP: {exc}", name) from None
        segment.tap_fd, segment.tap_name, segment.tap_created = tap.fd, name, tap.created
        try:
            configure_tap(name, vni.mtu or self.config.tap_mtu, vni.bridge, vni.address)
        except LinkError as exc:
            self._close_tap(segment)
            raise VxautoError.single(str(self.config_path or "config"), where, str(exc), name) from None

        def drain(_mask: int, seg: Segment = segment) -> None:
            self._drain_tap(seg)
            if self.datapath.tap_replies:
                self._write_tap_replies()

        self._register(tap.fd, drain, f"tap {name}")
        segment.table.local_listener = lambda mac, entry, seg=segment: self._local_mac_changed(seg, mac, entry)

    def _open_ring(self, segment: Segment) -> None:
        """The packet-ring local side: a veth pair, the visible end configured as a TAP would be, and the
        ring socket on the hidden end. Frames written to `tap_fd` (the socket) leave through the visible end."""
        vni = segment.config
        name, where = vni.tap_name, f"vnis[vni={vni.vni}]"
        mtu = vni.mtu or self.config.tap_mtu
        try:
            ring = PacketRing(name)
        except LinkError as exc:
            raise VxautoError.single(str(self.config_path or "config"), f"{where}.tap", str(exc), name) from None
        self.rings[vni.vni] = ring
        segment.tap_fd, segment.tap_name, segment.tap_created = ring.fd, name, ring.created
        try:
            configure_tap(name, mtu, vni.bridge, vni.address)
        except LinkError as exc:
            self._close_tap(segment)
            raise VxautoError.single(str(self.config_path or "config"), where, str(exc), name) from None
        if self.block_encap is None:
            self.block_encap = BlockEncapsulator(self.datapath, self.tx_socks, self.config.port, self.gso)

        def drain(_mask: int, seg: Segment = segment, ring: PacketRing = ring) -> None:
            self._drain_ring(seg, ring)
            if self.datapath.tap_replies:
                self._write_tap_replies()

        self._register(ring.fd, drain, f"ring {name}")
        segment.table.local_listener = lambda mac, entry, seg=segment: self._local_mac_changed(seg, mac, entry)

    def _write_tap_replies(self) -> None:
        """Frames the datapath answers itself (suppressed ARP requests and Neighbor Solicitations) go back to
        their TAP."""
        for seg, frame in self.datapath.tap_replies:
            try:
                os.writev(seg.tap_fd, (VNET_ZERO, frame))
            except OSError:
                seg.counters.rx_drop_tap_error += 1
        self.datapath.tap_replies.clear()

    def _close_tap(self, segment: Segment) -> None:
        if segment.tap_fd >= 0:
            self._unregister(segment.tap_fd)
            ring = self.rings.pop(segment.vni, None)
            if ring is not None:
                ring.close()  # removes the veth pair
            else:
                os.close(segment.tap_fd)  # a TAP we created vanishes with its last descriptor
            segment.tap_fd = -1

    def close(self) -> None:
        """Release everything: TAPs we created disappear, the API socket file is removed."""
        self.running = False
        if self.segmenter is not None:
            self.segmenter.close()
            self.segmenter = None
        if self.evpn is not None:
            self.evpn.stop()
        if self.api is not None:
            self.api.stop()
        for seg in self.datapath.segments.values():
            self._close_tap(seg)
        for sock in [self.rx_sock, *self.tx_socks, *self.group_socks.values()]:
            if sock is not None:
                if sock.fileno() in self.handlers:
                    self._unregister(sock.fileno())
                sock.close()
        self.rx_sock, self.tx_socks, self.group_socks = None, [], {}
        self._restore_signals()
        self.epoll.close()

    # --- event loop ----------------------------------------------------------------------------

    def _register(self, fd: int, callback: Callable[[int], None], name: str) -> None:
        self.handlers[fd] = Handler(callback, name)
        self.epoll.register(fd, select.EPOLLIN)

    def register(self, fd: int, callback: Callable[[int], None], name: str) -> None:
        """For the API server and EVPN agent: call `callback(mask)` when `fd` is readable."""
        self._register(fd, callback, name)

    def _unregister(self, fd: int) -> None:
        self.handlers.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(fd)

    def unregister(self, fd: int) -> None:
        self._unregister(fd)

    def run(self) -> None:
        next_age = time.monotonic() + self._age_interval()
        datapath = self.datapath
        while self.running:
            timeout = max(0.0, next_age - datapath.now)
            try:
                events = self.epoll.poll(min(timeout, 1.0))
            except InterruptedError:
                events = []
            datapath.tick()
            for fd, mask in events:
                handler = self.handlers.get(fd)
                if handler is not None:
                    self._dispatch(handler, mask)
            if self.reload_requested:
                self.reload_requested = False
                self.reload()
            if datapath.now >= next_age:
                self._check_segmenter()
                aged = datapath.age()
                if aged:
                    log.debug("aged out %d MAC entries", aged)
                next_age = datapath.now + self._age_interval()

    def _dispatch(self, handler: Handler, mask: int) -> None:
        """Run one handler; a bug met by one odd packet is logged and counted, the VTEP keeps running."""
        try:
            handler.callback(mask)
        except Exception:
            self.datapath.counters.internal_errors += 1
            if self.datapath.counters.internal_errors <= 20:
                log.exception("internal error in %s handler (VTEP keeps running)", handler.name)
            self.pending.clear()
            self.send_meta.clear()
            self.send_batch.used = 0
            self.tx_slot = 0

    def _check_segmenter(self) -> None:
        """Fall back to cutting super-frames in Python when the kernel stops forwarding what we hand it."""
        if self.segmenter is None:
            return
        problem = self.segmenter.healthy()
        if problem is not None:
            log.warning("kernel segmentation off: %s; pyvtep cuts TCP super-frames itself from now on", problem)
            self.segmenter.close()
            self.segmenter = None

    def _age_interval(self) -> float:
        return min(max(self.config.mac_aging / 10, 0.2), 10.0)

    def stop(self) -> None:
        self.running = False

    # --- signals -------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._wakeup = (reader, writer)
        signal.set_wakeup_fd(writer.fileno())
        self._register(reader.fileno(), lambda _mask: self._drain_wakeup(), "signals")
        for signum, handler in ((signal.SIGTERM, self._on_terminate), (signal.SIGINT, self._on_terminate),
                                (signal.SIGHUP, self._on_hangup)):
            self._old_signals[signum] = signal.signal(signum, handler)

    def _restore_signals(self) -> None:
        for signum, handler in self._old_signals.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._old_signals.clear()
        if self._wakeup is not None:
            signal.set_wakeup_fd(-1)
            for sock in self._wakeup:
                if sock.fileno() in self.handlers:
                    self._unregister(sock.fileno())
                sock.close()
            self._wakeup = None

    def _drain_wakeup(self) -> None:
        assert self._wakeup is not None
        try:
            while self._wakeup[0].recv(256):
                pass
        except BlockingIOError:
            pass

    def _on_terminate(self, signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        self.running = False

    def _on_hangup(self, _signum: int, _frame: object) -> None:
        self.reload_requested = True

    # --- underlay -> TAP -----------------------------------------------------------------------

    def _remote_text(self, packed: bytes) -> str:
        text = self.remote_cache.get(packed)
        if text is None:
            if len(self.remote_cache) > 65536:
                self.remote_cache.clear()
            text = self.remote_cache[packed] = ip_text(packed)
        return text

    def _sync_groups(self) -> None:
        """One receiving socket per multicast group the VNIs use (`group`); joined and left as they change."""
        wanted = {str(seg.config.group) for seg in self.datapath.segments.values() if seg.config.group is not None}
        for group in [g for g in self.group_socks if g not in wanted]:
            sock = self.group_socks.pop(group)
            self._unregister(sock.fileno())
            sock.close()  # closing leaves the group
        for group in sorted(wanted - self.group_socks.keys()):
            try:
                sock = kernel.multicast_socket(group, self.config.port, self.config.underlay_interface,
                                               gro=self.config.offload, buffer_bytes=SOCKET_BUFFER)
            except OSError as exc:
                raise VxautoError.single(str(self.config_path or "config"), "vnis[].group",
                                         f"cannot join the multicast group: {exc.strerror or exc}", group) from None
            sock.setblocking(False)
            self.group_socks[group] = sock

            def drain(_mask: int, fd: int = sock.fileno()) -> None:
                self._drain_underlay(fd)

            self._register(sock.fileno(), drain, f"group {group}")

    def _drain_underlay(self, fd: int | None = None, budget: int = 16) -> None:
        assert self.rx_sock is not None
        fd = self.rx_sock.fileno() if fd is None else fd
        batch, view, datapath = self.rx_batch, self.rx_view, self.datapath
        accept, pending = datapath.accept, self.pending
        counters = datapath.counters
        for _ in range(budget):
            received = batch.receive(fd)
            if not received:
                break
            for i in range(received):
                length = batch.length(i)
                remote = self._remote_text(batch.source_ip(i))
                if batch.truncated(i):
                    counters.rx_datagrams += 1
                    counters.drop_oversized += 1
                    continue
                base = i * SLOT_SIZE + RX_HEADROOM
                size = batch.gro_size(i)
                if size and length > size and not _is_tunnel_super_frame(view, base, length):
                    counters.gro_batches += 1  # several datagrams of `size` bytes back to back
                    for offset in range(0, length, size):
                        result = accept(view[base + offset : base + min(offset + size, length)], remote)
                        if result is not None:
                            pending.append(result)
                else:
                    result = accept(view[base : base + length], remote, size)
                    if result is not None:
                        pending.append(result)
            if pending:
                self._deliver_pending()
            if received < batch.count:
                break

    def _deliver_pending(self) -> None:
        """Write the accepted frames of one receive batch to their TAPs, merging TCP and UDP runs."""
        run: TcpRun | UdpRun | None = None
        run_segment: Segment | None = None
        coalesce = self.config.offload
        for seg, frame, vnet in self.pending:
            if vnet is not None:  # a super-frame received whole: one TAP write as it is
                if run is not None:
                    self._write_run(run_segment, run)
                    run = None
                self._write_super(seg, frame, vnet)
                continue
            if coalesce and frame[12] == 8 and frame[13] == 0:
                merged: TcpRun | UdpRun | None = None
                # Only TCP segments with a payload worth merging; pure ACKs (66 bytes) go straight through.
                if frame[23] == 6 and len(frame) >= _COALESCE_MIN:
                    merged = self._coalesce_tcp(run, run_segment, seg, frame)
                elif frame[23] == 17:
                    merged = self._coalesce_udp(run, run_segment, seg, frame)
                if merged is not None:
                    if merged is not run:
                        self._write_run(run_segment, run)
                        run, run_segment = merged, seg
                    continue
            if run is not None:
                self._write_run(run_segment, run)
                run = None
            self._write_frame(seg, frame)
        if run is not None:
            self._write_run(run_segment, run)
        self.pending.clear()

    @staticmethod
    def _coalesce_tcp(
        run: TcpRun | UdpRun | None, run_segment: Segment | None, seg: Segment, frame: memoryview
    ) -> TcpRun | None:
        """The TCP run `frame` now belongs to (the same or a new one), or None to write it on its own."""
        try:
            layers = parse_layers(frame)
        except OffloadError:
            return None
        key = coalescable_key(frame, layers)
        if key is None or not tcp_segment_ok(frame, layers):
            return None  # the kernel checks (and counts) what we do not merge
        if isinstance(run, TcpRun) and run_segment is seg and try_extend(run, frame, layers, key, SUPER_FRAME_LIMIT):
            return run
        return start_run(frame, layers, key)

    @staticmethod
    def _coalesce_udp(
        run: TcpRun | UdpRun | None, run_segment: Segment | None, seg: Segment, frame: memoryview
    ) -> UdpRun | None:
        """The UDP run `frame` now belongs to (the same or a new one), or None to write it on its own."""
        key = udp_run_key(frame)
        if key is None:
            return None  # the kernel checks (and counts) what we do not merge
        if isinstance(run, UdpRun) and run_segment is seg and try_extend_udp(run, frame, key):
            return run
        return start_udp_run(frame, key)

    def _write_frame(self, seg: Segment, frame: memoryview) -> None:
        header = VNET_ZERO
        if frame[12] == 0x08 and frame[13] == 0 and frame[14] == 0x45 and len(frame) >= 42:
            header = _ipv4_partial_header(frame)  # the common case, inlined
        elif frame[12] == 0x86 and frame[13] == 0xDD:
            header = partial_checksum_header(frame) or VNET_ZERO
        try:
            os.writev(seg.tap_fd, (header, frame))
        except OSError:
            seg.counters.rx_drop_tap_error += 1

    def _write_super(self, seg: Segment, frame: memoryview, vnet: bytes) -> None:
        try:
            os.writev(seg.tap_fd, (vnet, frame))
        except OSError:
            seg.counters.rx_drop_tap_error += 1

    def _write_run(self, seg: Segment | None, run: TcpRun | UdpRun | None) -> None:
        if run is None or seg is None:
            return
        if len(run.payloads) == 1:
            self._write_frame(seg, run.first)
            return
        try:
            os.writev(seg.tap_fd, super_frame(run) if isinstance(run, TcpRun) else udp_super_frame(run))
            self.datapath.counters.super_frames_rx += 1
        except OSError:
            seg.counters.rx_drop_tap_error += len(run.payloads)

    # --- TAP -> underlay -----------------------------------------------------------------------

    def _sockaddr(self, remote: str) -> bytes:
        address = self.sockaddr_cache.get(remote)
        if address is None:
            address = self.sockaddr_cache[remote] = kernel.sockaddr(remote, self.config.port)
        return address

    def _drain_ring(self, seg: Segment, ring: PacketRing, budget: int = 8) -> None:
        """Take up to `budget` ready blocks from the ring: the vectorised path sends what it can, the other
        frames are copied into send slots and go the TAP path's per-frame way."""
        assert self.block_encap is not None
        views, array, ring_view = self.tx_views, ring.array, ring.view
        pad, frame_start = TX_HEADROOM + VNET_FLAGS_BEFORE, TX_HEADROOM + VNET_HDR_LEN
        for _ in range(budget):
            offset = ring.ready()
            if offset is None:
                break
            try:
                frames = ring.frames(offset)
                slow = self.block_encap.block(seg, array, frames)
                if slow:
                    queue = iter(slow)

                    def fill(slot: int, frames: Frames = frames, queue: Iterator[int] = queue) -> int:
                        index = next(queue, None)
                        if index is None:
                            raise BlockingIOError
                        start, length = frames.starts[index], frames.lengths[index]
                        view = views[slot]  # [pad][10-byte virtio-net header][2 bytes num_buffers][frame]
                        view[TX_HEADROOM:pad] = ring_view[start - VNET_FLAGS_BEFORE : start]
                        view[pad:frame_start] = b"\0\0"
                        tag = frames.vlans.get(index)
                        if tag is None:
                            view[frame_start : frame_start + length] = ring_view[start : start + length]
                            return VNET_HDR_LEN + length
                        # The kernel took the 802.1Q tag off (into the packet's metadata): put it back, so
                        # that inner_vlan drop/carry judges the frame as a TAP would have delivered it.
                        view[frame_start : frame_start + 12] = ring_view[start : start + 12]
                        view[frame_start + 12 : frame_start + 16] = tag
                        view[frame_start + 16 : frame_start + length + 4] = ring_view[start + 12 : start + length]
                        if view[TX_HEADROOM] & VNET_F_NEEDS_CSUM:
                            csum_start = view[TX_HEADROOM + 6] | (view[TX_HEADROOM + 7] << 8)
                            view[TX_HEADROOM + 6 : TX_HEADROOM + 8] = (csum_start + 4).to_bytes(2, "little")
                        return VNET_HDR_LEN + length + 4

                    self._drain_tap(seg, budget=len(slow) + 1, fill=fill)
            finally:
                ring.release(offset)

    def _drain_tap(self, seg: Segment, budget: int = 256, fill: Callable[[int], int] | None = None) -> None:
        """Read frames from one TAP into send slots, encapsulate in place, send them in batches.

        The per-frame work is inlined on purpose: at small frame sizes every Python call shows. The
        forwarding decision (remote VTEPs, outer source port) is made once per IPv4 flow per call and
        reused for the flow's next frames: within one call the MAC table cannot change (learning from
        the underlay and EVPN run in other handlers) and the clock does not move (`Datapath.tick`).
        """
        fd = seg.tap_fd
        views, iovs, readv = self.tx_views, self.tx_read_iov, os.readv
        if fill is None:
            def fill(slot: int) -> int:
                return readv(fd, iovs[slot])
        route, counters = self.datapath.route, seg.counters
        max_frame = self.datapath.max_encap_frame
        ports, header = len(self.tx_fds), seg.header
        batch, meta = self.send_batch, self.send_meta
        iovecs, names, slot_names, name_size = batch.iovecs, batch.name_view, batch.slot_names, batch.name_size
        pack_iov = kernel.IOVEC.pack_into
        decisions: dict[bytes, tuple[tuple[bytes, ...], int, int]] = {}  # flow -> (sockaddrs, port index, floods)
        start = TX_HEADROOM + VNET_HDR_LEN
        slot_address = self.tx_base + start - VXLAN_HEADER_LEN
        for _ in range(budget):
            slot = self.tx_slot
            try:
                got = fill(slot)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                log.warning("reading TAP %s: %s", seg.tap_name, exc)
                break
            view = views[slot]
            if got < VNET_HDR_LEN + ETH_HEADER_LEN:
                counters.tap_frames += 1
                counters.tx_drop_runt += 1
                continue
            end = TX_HEADROOM + got
            frame = view[start:end]
            if view[TX_HEADROOM + 1]:  # gso_type: a TSO/USO super-frame
                self._send_super_frame(seg, view, frame, slot)
                continue
            if view[TX_HEADROOM] & VNET_F_NEEDS_CSUM and not _complete_checksum(view, start, end):
                counters.tap_frames += 1
                counters.tx_drop_bad_offload += 1
                continue
            length = got - VNET_HDR_LEN
            key = decision = None
            if view[start + 12] == 0x08 and view[start + 13] == 0 and 38 <= length <= max_frame:
                key = view[start : start + 14].tobytes() + view[start + 26 : start + 38].tobytes()  # MACs, IPs, ports
                decision = decisions.get(key)
            if decision is None:
                floods = counters.tx_flood_packets
                targets = route(seg, frame)  # counts the frame, learns, drops (and counts) what it must
                if not targets:
                    continue
                decision = (tuple(self.sockaddr_cache.get(r) or self._sockaddr(r) for r in targets),
                            zlib.crc32(flow_key(frame)) % ports, counters.tx_flood_packets - floods)
                if key is not None:
                    decisions[key] = decision
            else:
                counters.tap_frames += 1
                if decision[2]:
                    counters.tx_flood_packets += decision[2]
            view[start - VXLAN_HEADER_LEN : start] = header
            sockaddrs, index, _ = decision
            address = slot_address + slot * SLOT_SIZE
            for sockaddr in sockaddrs:
                if batch.used == batch.count:
                    self._flush_sends(seg, reset_slots=False)  # this frame's slot stays referenced
                used = batch.used
                pack_iov(iovecs, used * 16, address, length + VXLAN_HEADER_LEN)
                if slot_names[used] is not sockaddr:  # the message slot may still hold this destination
                    names[used * name_size : (used + 1) * name_size] = sockaddr
                    slot_names[used] = sockaddr
                batch.used = used + 1
                meta.append((index, length))
            self.tx_slot = slot + 1
            if self.tx_slot == self.batch:
                self._flush_sends(seg)
        self._flush_sends(seg)

    def _flush_sends(self, seg: Segment, reset_slots: bool = True) -> None:
        """Send the queued frames of `seg`: per run of frames sharing an outer source port, equal-sized
        datagrams to one destination leave as one UDP GSO sendmsg, the rest by sendmmsg."""
        meta = self.send_meta
        total = len(meta)
        if total:
            start = 0
            while start < total:
                index = meta[start][0]
                end = start + 1
                while end < total and meta[end][0] == index:
                    end += 1
                self._send_run(seg, self.tx_fds[index], start, end)
                start = end
            meta.clear()
            self.send_batch.used = 0
        if reset_slots:
            self.tx_slot = 0

    def _send_run(self, seg: Segment, fd: int, start: int, end: int) -> None:
        """Messages start..end-1 (one source port): GSO for runs of at least GSO_MIN_RUN equal datagrams."""
        meta, batch, names, counters = self.send_meta, self.send_batch, self.send_batch.slot_names, seg.counters
        plain = start  # first message not yet sent
        position = start
        while position < end and self.gso:
            size, name = meta[position][1], names[position]
            limit = min(end, position + GSO_MAX_SEGMENTS, position + UDP_MAX_PAYLOAD // (size + VXLAN_HEADER_LEN))
            last = position + 1
            while last < limit and meta[last][1] == size and names[last] is name:
                last += 1
            if last < limit and meta[last][1] < size and names[last] is name:
                last += 1  # a shorter datagram may end a GSO run
            if last - position >= GSO_MIN_RUN:
                if plain < position:
                    self._send_plain(seg, fd, plain, position)
                if batch.send_gso(fd, position, last - position, size + VXLAN_HEADER_LEN):
                    self.datapath.counters.gso_runs_tx += 1
                    counters.tx_packets += last - position
                    counters.tx_bytes += sum(meta[i][1] for i in range(position, last))
                else:  # refused as a whole (e.g. a route without GSO): one by one, so each is counted
                    self._send_plain(seg, fd, position, last)
                plain = last
            position = last
        if plain < end:
            self._send_plain(seg, fd, plain, end)

    def _send_plain(self, seg: Segment, fd: int, start: int, end: int) -> None:
        meta, counters = self.send_meta, seg.counters
        failed = self.send_batch.send_range(fd, start, end - start)
        counters.tx_packets += end - start - len(failed)
        counters.tx_bytes += sum(meta[i][1] for i in range(start, end) if i not in failed)
        counters.tx_drop_send_error += len(failed)

    def _send_super_frame(self, seg: Segment, view: memoryview, frame: memoryview, slot: int) -> None:
        """Cut a TSO/USO super-frame into wire frames and send them: UDP GSO or one sendmmsg."""
        _flags, gso_type, _hdr_len, gso_size, _start, _offset, _ = VNET_HDR.unpack_from(view, TX_HEADROOM)
        segmenter = self.segmenter
        if (segmenter is not None and gso_type & ~VNET_GSO_ECN in _TCP_GSO_TYPES and gso_size > 0
                and self._send_tcp_by_kernel(segmenter, seg, frame, gso_type, gso_size)):
            return
        vectorised = self.gso and self.gso_scratch is not None and not gso_size & 1
        if vectorised and gso_type & ~VNET_GSO_ECN in _TCP_GSO_TYPES:
            self._send_tcp_vectorised(seg, frame, gso_type, gso_size)
            return
        try:
            pieces = segment(frame, gso_type, gso_size, prefix=seg.header)
        except OffloadError:
            seg.counters.tap_frames += 1
            seg.counters.tx_drop_bad_offload += 1
            return
        self.datapath.counters.super_frames_tx += 1
        header_len = len(pieces[0][0]) - VXLAN_HEADER_LEN
        first_length = header_len + len(pieces[0][1])
        targets = self.datapath.route(seg, frame[:first_length], segments=len(pieces))
        if not targets:
            return
        index = zlib.crc32(flow_key(frame)) % len(self.tx_fds)
        wire_bytes = len(frame) - header_len + header_len * len(pieces)
        payload_address = self.tx_base + slot * SLOT_SIZE + TX_HEADROOM + VNET_HDR_LEN + header_len
        for remote in targets:
            if self.gso:
                sent = self._send_gso(self.tx_socks[index], pieces, (remote, self.config.port))
            else:
                sent = self.segment_batch.send(self.tx_fds[index], pieces, payload_address, gso_size,
                                               self._sockaddr(remote))
            failed = len(pieces) - sent
            seg.counters.tx_packets += sent
            seg.counters.tx_bytes += wire_bytes if not failed else sent * first_length
            seg.counters.tx_drop_send_error += failed

    def _send_tcp_by_kernel(self, segmenter: KernelSegmenter, seg: Segment, frame: memoryview, gso_type: int,
                            mss: int) -> bool:
        """Encapsulate a TCP super-frame whole and let the kernel cut it (see `tunnel.py`). False leaves it
        to the Python paths: headers they must judge, or too long to wrap in one IPv4 packet."""
        try:
            layers = parse_layers(frame)
        except OffloadError:
            return False
        payload = len(frame) - layers.payload
        if layers.protocol != IPPROTO_TCP or payload <= 0 or len(frame) + OUTER_LEN - 14 > 0xFFFF:
            return False
        count = -(-payload // mss)
        datapath = self.datapath
        datapath.counters.super_frames_tx += 1
        datapath.counters.kernel_segmented += 1
        first_length = layers.payload + min(mss, payload)
        targets = datapath.route(seg, frame[:first_length], segments=count)
        if not targets:
            return True
        source_port = self.source_ports[zlib.crc32(flow_key(frame)) % len(self.source_ports)]
        wire_bytes = payload + layers.payload * count
        counters = seg.counters
        for remote in targets:
            if segmenter.send(frame, layers, gso_type, mss, count, remote, source_port, seg.header):
                counters.tx_packets += count
                counters.tx_bytes += wire_bytes
            else:
                counters.tx_drop_send_error += count
        return True

    def _send_tcp_vectorised(self, seg: Segment, frame: memoryview, gso_type: int, mss: int) -> None:
        """TCP super-frame -> wire frames built by numpy in one buffer -> one UDP GSO sendmsg per 64 KiB."""
        try:
            gso = segment_tcp_gso(frame, gso_type, mss, seg.header, self.gso_scratch)
        except OffloadError:
            seg.counters.tap_frames += 1
            seg.counters.tx_drop_bad_offload += 1
            return
        self.datapath.counters.super_frames_tx += 1
        header_len, count, stride = gso.header_len, gso.count, gso.stride
        first_length = header_len + min(mss, len(frame) - header_len)
        targets = self.datapath.route(seg, frame[:first_length], segments=count)
        if not targets:
            return
        sock = self.tx_socks[zlib.crc32(flow_key(frame)) % len(self.tx_socks)]
        wire_bytes = len(frame) - header_len + header_len * count
        per_call = max(1, min(GSO_MAX_SEGMENTS, UDP_MAX_PAYLOAD // stride))
        control = self.gso_controls.get(stride)
        if control is None:
            control = self.gso_controls[stride] = kernel.gso_control(stride)
        port, counters = self.config.port, seg.counters
        for remote in targets:
            destination = (remote, port)
            sent = 0
            for first in range(0, count, per_call):
                group = min(per_call, count - first)
                try:
                    sock.sendmsg((gso.group(first, group),), control if group > 1 else (), 0, destination)
                    sent += group
                except OSError:
                    pass
            failed = count - sent
            counters.tx_packets += sent
            counters.tx_bytes += wire_bytes if not failed else sent * first_length
            counters.tx_drop_send_error += failed

    @staticmethod
    def _send_gso(sock: socket.socket, pieces: list[tuple[bytes, memoryview]], destination: tuple[str, int]) -> int:
        segment_size = len(pieces[0][0]) + len(pieces[0][1])
        per_call = max(1, min(GSO_MAX_SEGMENTS, UDP_MAX_PAYLOAD // segment_size))
        sent = 0
        control = kernel.gso_control(segment_size)
        for first in range(0, len(pieces), per_call):
            group = pieces[first : first + per_call]
            buffers: list[bytes | memoryview] = []
            for head, payload in group:
                buffers += (head, payload)
            try:
                sock.sendmsg(buffers, control if len(group) > 1 else [], 0, destination)
                sent += len(group)
            except OSError:
                pass
        return sent

    # --- control plane hooks ---------------------------------------------------------------------

    def _local_mac_changed(self, seg: Segment, mac: bytes, entry: Entry | None) -> None:
        if self.evpn is not None:
            self.evpn.local_mac(seg, mac, entry is not None)

    # --- reload --------------------------------------------------------------------------------

    def reload(self, config: PyvtepConfig | None = None) -> ReloadResult:
        """Re-read the config and apply it; learned MACs and EVPN state of kept VNIs survive."""
        if config is None:
            if self.config_path is None:
                raise VxautoError.single("config", "", "no config file to reload from")
            config = load_config(self.config_path)
        result = ReloadResult()
        old = self.config
        for name in ("local_ip", "port", "underlay_mtu", "source_ports", "df", "udp_checksum", "offload",
                     "kernel_segmentation", "batch", "datapath", "api", "evpn", "name", "underlay_interface"):
            if getattr(old, name) != getattr(config, name):
                result.needs_restart.append(name)
        if result.needs_restart:
            # Keep the running values of settings that need a restart; apply everything else.
            config = config.model_copy(update={name: getattr(old, name) for name in result.needs_restart})
        datapath = self.datapath
        datapath.config = config
        self.config = config
        if old.mac_aging != config.mac_aging:
            result.applied.append("mac_aging")
        wanted = {vni.vni: vni for vni in config.vnis}
        for vni in [v for v in datapath.segments if v not in wanted]:
            self._remove_vni(vni)
            result.applied.append(f"removed VNI {vni}")
        for number, vni_config in wanted.items():
            seg = datapath.segments.get(number)
            if seg is None:
                self._add_vni(vni_config)
                result.applied.append(f"added VNI {number}")
            elif seg.config != vni_config:
                self._change_vni(seg, vni_config)
                result.applied.append(f"changed VNI {number}")
        if self.rx_sock is not None:
            self._sync_groups()
        log.info("reload: applied %s; needs restart: %s", result.applied or "nothing",
                 result.needs_restart or "nothing")
        return result

    def _add_vni(self, vni_config: VniConfig) -> None:
        seg = self.datapath.add_segment(vni_config, self.config.tap_mtu)
        try:
            self._open_tap(seg)
        except VxautoError:
            self.datapath.remove_segment(vni_config.vni)
            raise
        if self.evpn is not None:
            self.evpn.segment_added(seg)

    def _remove_vni(self, vni: int) -> None:
        seg = self.datapath.remove_segment(vni)
        if seg is None:
            return
        if self.evpn is not None:
            self.evpn.segment_removed(seg)
        seg.table.local_listener = None
        self._close_tap(seg)

    def _change_vni(self, seg: Segment, vni_config: VniConfig) -> None:
        old = seg.config
        self.datapath.update_segment(seg, vni_config, self.config.tap_mtu)
        if old.tap_name != vni_config.tap_name:
            self._close_tap(seg)
            self._open_tap(seg)
        elif (old.bridge, old.address, old.mtu) != (vni_config.bridge, vni_config.address, vni_config.mtu):
            try:
                if old.bridge is not None and vni_config.bridge is None:
                    detach_from_bridge(seg.tap_name)
                if old.address is not None and old.address != vni_config.address:
                    remove_address(seg.tap_name, old.address)
                configure_tap(seg.tap_name, vni_config.mtu or self.config.tap_mtu, vni_config.bridge,
                              vni_config.address)
            except LinkError as exc:
                log.warning("reload: %s", exc)
        if self.evpn is not None:
            self.evpn.segment_changed(seg, old)

    # --- status for the API ----------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return {
            "name": self.config.name,
            "pid": os.getpid(),
            "local_ip": str(self.config.local_ip),
            "port": self.config.port,
            "underlay_mtu": self.config.underlay_mtu,
            "source_ports": self.source_ports,
            "offload": self.config.offload,
            "kernel_segmentation": self.segmenter.name if self.segmenter is not None else None,
            "datapath": self.config.datapath,
            "uptime": round(time.time() - self.started_at, 1),
            "vnis": sorted(self.datapath.segments),
            "evpn": self.evpn.status() if self.evpn is not None else None,
        }


_PARTIAL_TCP4 = VNET_HDR.pack(VNET_F_NEEDS_CSUM, 0, 0, 0, 34, 16, 0)
_PARTIAL_UDP4 = VNET_HDR.pack(VNET_F_NEEDS_CSUM, 0, 0, 0, 34, 6, 0)


def _ipv4_partial_header(frame: memoryview) -> bytes:
    """`headers.partial_checksum_header` for IPv4 without options, inlined for small frames."""
    protocol = frame[23]
    if protocol == 6:
        where, header = 50, _PARTIAL_TCP4
    elif protocol == 17:
        where, header = 40, _PARTIAL_UDP4
    else:
        return VNET_ZERO
    length = ((frame[16] << 8) | frame[17]) - 20
    if length < 8 or where + 2 > len(frame) or 34 + length > len(frame):
        return VNET_ZERO
    field = (frame[where] << 8) | frame[where + 1]
    if not field:
        return VNET_ZERO  # UDP without checksum (TCP cannot carry a zero partial sum)
    pseudo = int.from_bytes(frame[26:34], "big") + protocol + length
    return header if field == (pseudo % 0xFFFF or 0xFFFF) else VNET_ZERO


def _complete_checksum(view: memoryview, start: int, end: int) -> bool:
    """Finish a CHECKSUM_PARTIAL frame read from the TAP in place (inlined `headers.complete_checksum`).

    The virtio-net header sits at TX_HEADROOM in the slot, the frame at `start`..`end`.
    """
    csum_start, csum_offset = _VNET_CSUM.unpack_from(view, TX_HEADROOM + 6)
    first = start + csum_start
    where = first + csum_offset
    if csum_start < ETH_HEADER_LEN or where + 2 > end:
        return False
    value = int.from_bytes(view[first:end], "big")
    if (end - first) & 1:
        value <<= 8
    value = 0xFFFF - ((value % 0xFFFF) or 0xFFFF) if value else 0xFFFF
    if not value and csum_offset == 6:
        value = 0xFFFF  # UDP: a computed zero is sent as all ones
    view[where] = value >> 8
    view[where + 1] = value & 0xFF
    return True


def _is_tunnel_super_frame(view: memoryview, base: int, length: int) -> bool:
    """One VXLAN header + one inner IP packet filling the whole buffer (not a UDP GRO batch)."""
    if length < VXLAN_HEADER_LEN + ETH_HEADER_LEN + 40:
        return False
    inner = base + VXLAN_HEADER_LEN
    if view[inner + 12] == 0x08 and view[inner + 13] == 0x00:
        return VXLAN_HEADER_LEN + ETH_HEADER_LEN + ((view[inner + 16] << 8) | view[inner + 17]) == length
    if view[inner + 12] == 0x86 and view[inner + 13] == 0xDD:
        return VXLAN_HEADER_LEN + ETH_HEADER_LEN + 40 + ((view[inner + 18] << 8) | view[inner + 19]) == length
    return False


class EvpnHook(Protocol):
    """What the engine calls on the EVPN agent (implemented in `evpn.py`)."""

    def local_mac(self, seg: Segment, mac: bytes, present: bool) -> None: ...
    def segment_added(self, seg: Segment) -> None: ...
    def segment_removed(self, seg: Segment) -> None: ...
    def segment_changed(self, seg: Segment, old: VniConfig) -> None: ...
    def status(self) -> dict[str, object]: ...
    def stop(self) -> None: ...


class ApiHook(Protocol):
    def stop(self) -> None: ...
