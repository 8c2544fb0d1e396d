"""The TFTP server edge: tftpy decodes requests; the transfers are our own.

tftpy's server loop keeps one outstanding block per transfer in a state
machine that cannot express RFC 7440 windows, and its root-relative path
check does not know WalT's virtual layout.  Here one epoll loop per process
serves every transfer (:class:`TftpServer`), each a
:class:`waltport.net.tftp_session.Session` with its own socket (the transfer
ID): RFC 2347-2349 (options, blksize, timeout, tsize) and RFC 7440
(windowsize); with the optional C loop, transfers of one block per ACK run
in threads of their own instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpPacketTypes import TftpPacketRRQ, TftpPacketWRQ
from tftpy.TftpShared import TftpException

from waltport.net.tftp_map import ERR_ACCESS, ERR_NOT_FOUND, TftpRefused
from waltport.net.tftp_session import OP_ERROR, Session

log = logging.getLogger("waltport.net.tftp")
MAX_BLKSIZE, MAX_WINDOW = 65464, 64
IDLE_WAIT = 0.3      # s: how soon an idle loop notices stop()
SCAN_INTERVAL = 0.1  # s: how often deadlines are checked while transfers run
QUIET = 0.05         # s without a new request before a lone transfer may be pumped
_FACTORY = TftpPacketFactory()

Resolver = Callable[[str, str], tuple[str, Path]]


@dataclass(frozen=True)
class TransferRecord:
    """One line of the per-request log."""

    time: float
    client: str
    port: int
    requested: str
    remapped: str | None
    bytes: int
    blocks: int
    duration: float
    blksize: int
    windowsize: int
    retransmits: int
    result: str
    error: str | None = None


def read_transfer_log(path: str | Path) -> list[TransferRecord]:
    """The records of a transfer log; a torn last line (crash mid-write) is skipped."""
    out: list[TransferRecord] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            out.append(TransferRecord(**json.loads(line)))
    return out


def error_packet(code: int, message: str) -> bytes:
    return struct.pack("!HH", OP_ERROR, code) + message.encode("ascii", "replace")[:200] + b"\0"


def negotiate(options: dict[str, str], size: int) -> dict[str, str]:
    """The options we acknowledge (RFC 2347-2349, 7440); values out of range are clamped."""
    out: dict[str, str] = {}
    for key, raw in options.items():
        k = key.lower()
        try:
            value = int(raw)
        except ValueError:
            continue
        if k == "blksize" and value >= 8:
            out[k] = str(min(value, MAX_BLKSIZE))
        elif k == "timeout" and 1 <= value <= 255:
            out[k] = str(value)
        elif k == "tsize":
            out[k] = str(size)
        elif k == "windowsize" and value >= 1:
            out[k] = str(min(value, MAX_WINDOW))
    return out


class TransferLog:
    """Append-only JSON lines; one ``os.write`` per record on an O_APPEND fd (never half)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def write(self, rec: TransferRecord) -> None:
        with self._lock:
            os.write(self._fd, (json.dumps(asdict(rec), sort_keys=True) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def listen_socket(ip: str, port: int = 69) -> socket.socket:
    """The UDP socket requests arrive on (bound once; worker processes may share it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
    except OSError:
        sock.close()
        raise
    return sock


class TftpServer:
    """Listen on ``ip:port``; ``resolver(requested, client_ip)`` -> (remapped, file).

    One thread runs an epoll loop over the listening socket and every
    transfer's socket: a ready ACK is answered by the next window with no
    thread switch and no interpreter-lock hand-off between transfers (the
    thread-per-transfer server it replaces spent a 20-client storm passing
    the lock around).  A worker with a single transfer lets it wait for its
    ACKs in ``recv`` for a while (:meth:`Session.pump`), one system call per
    block fewer than the loop.  ``sock``: an already bound listening socket (one
    inherited by several worker processes, see
    :mod:`waltport.net.tftp_workers`) instead of binding ``ip:port``;
    ``stop()`` closes this process's copy.

    With the C loop (:func:`waltport.net.tftp_session.fast_path`) a transfer
    with one block per ACK gets a thread of its own instead (:meth:`_alone`):
    it waits for its ACKs in ``recv`` inside C with the interpreter lock
    released, so a storm's lock-step transfers run side by side on every core
    with no Python and no ``epoll_wait`` per block, as tftpd-hpa's processes
    do.  ``fast``: False forces the Python loop (None: the default of
    :class:`Session`).
    """

    def __init__(self, ip: str, resolver: Resolver, log_path: Path, port: int = 69,
                 sock: socket.socket | None = None, *, fast: bool | None = None) -> None:
        self.ip = ip
        self.resolver = resolver
        self.log = TransferLog(log_path)
        self.bad_packets = 0
        self.fast = fast
        self._alone_threads: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._sock = sock if sock is not None else listen_socket(ip, port)
        self._thread = threading.Thread(target=self._loop, name="tftp", daemon=True)
        self._epoll = select.epoll()
        self._active: dict[int, tuple[_Transfer, Session]] = {}

    @property
    def port(self) -> int:
        """The port requests arrive on (useful when bound to port 0)."""
        return int(self._sock.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the loop (active transfers are aborted and logged), close everything."""
        self._stop.set()
        self._thread.join(5)
        for alone in list(self._alone_threads):  # each sees the stop within PUMP_WAIT
            alone.join(5)
        self._sock.close()
        self._epoll.close()
        # A transfer thread still running would write its record to a closed (or
        # reused) descriptor: the log stays open for it (closed with the process).
        if not any(t.is_alive() for t in list(self._alone_threads)):
            self.log.close()

    def _loop(self) -> None:
        listen_fd = self._sock.fileno()
        # With a shared socket every worker wakes for each request and only one
        # reads it: the others get EAGAIN (MSG_DONTWAIT; the socket's own flags
        # are shared by all workers and left blocking) and wait again.
        self._epoll.register(listen_fd, select.EPOLLIN)
        next_scan = last_request = 0.0
        poll, active = self._epoll.poll, self._active  # the per-block path, looked up once
        try:
            while not self._stop.is_set():
                # Sleep at most until the next deadline scan while transfers run.
                events = poll(SCAN_INTERVAL if active else IDLE_WAIT)
                now = time.monotonic()
                for fd, _ in events:
                    live = active.get(fd)
                    if live is not None:
                        self._step(*live, Session.readable, now)
                        # Pump a lone transfer, but not while requests are coming in
                        # (a storm's first seconds): they would wait behind it.
                        if len(active) == 1 and fd in active and now > last_request + QUIET:
                            self._step(*live, Session.pump, now)
                    elif fd == listen_fd:
                        self._receive_request(now)
                        last_request = now
                if now >= next_scan:
                    next_scan = now + SCAN_INTERVAL
                    for tr, sess in [a for a in self._active.values() if a[1].deadline <= now]:
                        self._step(tr, sess, Session.expired, now)
        finally:
            for tr, sess in list(self._active.values()):
                sess.abort("server stopping")
                self._end(tr, sess)

    def _step(self, tr: _Transfer, sess: Session, event: Callable[[Session, float], None],
              now: float) -> None:
        """Run one event of a transfer; a bug ends that transfer (logged), not the loop."""
        try:
            event(sess, now)
        except Exception as err:
            log.exception("tftp: transfer for %s failed", tr.peer)
            sess.abort(f"server: {type(err).__name__}: {err}", "error")
        if sess.done:
            self._end(tr, sess)

    def _receive_request(self, now: float) -> None:
        try:
            data, peer = self._sock.recvfrom(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError as err:
            log.warning("tftp receive failed: %s", err)
            return
        try:
            self._request(data, peer, now)
        except Exception:  # survive anything a packet triggers
            self.bad_packets += 1
            log.exception("tftp: unexpected failure on a packet from %s", peer)

    def _request(self, data: bytes, peer: tuple[str, int], now: float) -> None:
        try:
            pkt = parse_request(data)
        except TftpException as err:
            self.bad_packets += 1
            if self.bad_packets <= 20 or self.bad_packets % 1000 == 0:
                log.warning("tftp: dropped malformed packet from %s (#%d): %s",
                            peer, self.bad_packets, err)
            return
        if pkt is None:
            self.bad_packets += 1
            return
        if isinstance(pkt, TftpPacketWRQ):
            self._sock.sendto(error_packet(ERR_ACCESS, "read-only server"), peer)
            return
        self._open(pkt, peer, now)

    def _open(self, pkt: TftpPacketRRQ, peer: tuple[str, int], now: float) -> None:
        """Resolve, open and start one transfer; refusals are answered and logged here."""
        tr = _Transfer(peer, pkt.filename, now)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fd = -1
        sess: Session | None = None
        try:
            sock.bind((self.ip, 0))
            sock.connect(peer)
            tr.sock = sock
            try:
                tr.remapped, path = self.resolver(pkt.filename, peer[0])
                fd = os.open(path, os.O_RDONLY)
            except TftpRefused as err:
                tr.error, tr.remapped = str(err), err.remapped
                sock.sendto(error_packet(err.code, str(err)), peer)
                self._log(tr, None)
                return
            except OSError as err:
                tr.error = f"cannot open: {err.strerror}"
                sock.sendto(error_packet(ERR_NOT_FOUND, "file not found"), peer)
                self._log(tr, None)
                return
            tr.fd = fd
            sess = Session(sock, fd, negotiate(dict(pkt.options or {}), os.fstat(fd).st_size),
                           self.fast)
        except OSError as err:
            tr.error = f"socket: {err}"
            self._log(tr, None)
            return
        except Exception as err:  # e.g. the registry failing: the record says why, not stderr
            tr.error = f"server: {type(err).__name__}: {err}"
            log.exception("tftp: transfer for %s failed", peer)
            with contextlib.suppress(OSError):
                sock.sendto(error_packet(0, "server error"), peer)
            self._log(tr, None)
            return
        finally:
            if sess is None:
                sock.close()
                if fd >= 0:
                    os.close(fd)
        sess.start(now)
        if sess.done:
            self._end(tr, sess)
        elif sess.lockstep:
            alone = threading.Thread(target=self._alone, args=(tr, sess), daemon=True,
                                     name=f"tftp-{peer[0]}:{peer[1]}")
            self._alone_threads.add(alone)
            try:
                alone.start()
            except RuntimeError as err:     # no thread to be had (a storm without end)
                self._alone_threads.discard(alone)
                sess.abort(f"no thread for the transfer: {err}", "error")
                self._end(tr, sess)
        else:
            self._active[sock.fileno()] = (tr, sess)
            self._epoll.register(sock.fileno(), select.EPOLLIN)

    def _alone(self, tr: _Transfer, sess: Session) -> None:
        """A lock-step transfer's own thread: the C loop, then deadlines, until it ends."""
        try:
            while not sess.done:
                now = time.monotonic()
                if self._stop.is_set():
                    sess.abort("server stopping")
                    self._end(tr, sess)
                else:
                    self._step(tr, sess, Session.expired if sess.deadline <= now
                               else Session.pump, now)
        finally:
            self._alone_threads.discard(threading.current_thread())

    def _end(self, tr: _Transfer, sess: Session) -> None:
        assert tr.sock is not None
        if self._active.pop(tr.sock.fileno(), None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(tr.sock.fileno())
        tr.sock.close()
        os.close(tr.fd)
        self._log(tr, sess)

    def _log(self, tr: _Transfer, s: Session | None) -> None:
        rec = TransferRecord(
            time=tr.wall, client=tr.peer[0], port=tr.peer[1], requested=tr.requested,
            remapped=tr.remapped, bytes=s.size if s and s.result == "ok" else 0,
            blocks=s.last if s and s.result == "ok" else 0,
            duration=round(time.monotonic() - tr.t0, 6), blksize=s.blksize if s else 512,
            windowsize=s.window if s else 1, retransmits=s.retransmits if s else 0,
            result=s.result if s else "error", error=(s.error if s else tr.error) or None)
        self.log.write(rec)
        log.info("tftp: %s %s -> %s: %s %d bytes", rec.client, rec.requested, rec.remapped,
                 rec.result, rec.bytes)


@dataclass
class _Transfer:
    """What the loop keeps about one request besides its session: socket, file, names."""

    peer: tuple[str, int]
    requested: str
    t0: float
    wall: float = field(default_factory=time.time)
    remapped: str | None = None
    error: str = ""
    sock: socket.socket | None = None
    fd: int = -1


def parse_request(data: bytes) -> TftpPacketRRQ | TftpPacketWRQ | None:
    """A request (tftpy's decoder), None for any other packet; TftpException if malformed."""
    try:
        pkt = _FACTORY.parse(data)
    except (struct.error, UnicodeDecodeError, ValueError, IndexError, KeyError,
            TypeError) as err:
        raise TftpException(f"undecodable: {err}") from err
    return pkt if isinstance(pkt, TftpPacketRRQ | TftpPacketWRQ) else None
