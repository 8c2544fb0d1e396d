"""The TFTP server edge: tftpy's packet codec, our own per-transfer engine.

tftpy decodes requests (RRQ/WRQ with their options) and encodes OACKs.  Its
server loop is replaced: tftpy keeps one outstanding block per transfer in a
state machine driven by a single select loop, which cannot express RFC 7440
windows without rewriting its states, and its root-relative path check does
not know WalT's virtual layout.  Here each transfer runs in its own thread with
its own socket (the transfer ID), sends a window of blocks, and handles RFC
2347-2349 (options, blksize, timeout, tsize) and RFC 7440 (windowsize).
DATA/ACK/ERROR, four-byte headers on the hot path, are packed with ``struct``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpPacketTypes import TftpPacketOACK, TftpPacketRRQ, TftpPacketWRQ
from tftpy.TftpShared import TftpException

from waltport.net.tftp_map import ERR_ACCESS, ERR_NOT_FOUND, TftpRefused

log = logging.getLogger("waltport.net.tftp")
OP_DATA, OP_ACK, OP_ERROR = 3, 4, 5
MAX_BLKSIZE, MAX_WINDOW, MAX_RETRIES = 65464, 64, 5
ERR_ILLEGAL, ERR_TID, ERR_OPTION = 4, 5, 8

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

    ``sock``: an already bound listening socket (one inherited by several
    worker processes, see :mod:`waltport.net.tftp_workers`) instead of binding
    ``ip:port``; ``stop()`` closes this process's copy.
    """

    def __init__(self, ip: str, resolver: Resolver, log_path: Path, port: int = 69,
                 sock: socket.socket | None = None) -> None:
        self.ip = ip
        self.resolver = resolver
        self.log = TransferLog(log_path)
        self.bad_packets = 0
        self._stop = threading.Event()
        self._sock = sock if sock is not None else listen_socket(ip, port)
        # With a shared socket every worker wakes for each request and only one
        # reads it: the others see EAGAIN (handled in _loop) and wait again.
        self._sock.settimeout(0.3)
        self._thread = threading.Thread(target=self._loop, name="tftp", daemon=True)
        self._transfers: set[threading.Thread] = set()
        self._factory = TftpPacketFactory()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for t in list(self._transfers):
            t.join(5)
        self._sock.close()
        self.log.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(65536)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError as err:
                log.warning("tftp receive failed: %s", err)
                continue
            try:
                self._request(data, peer)
            except Exception:  # survive anything a packet triggers
                self.bad_packets += 1
                log.exception("tftp: unexpected failure on a packet from %s", peer)

    def _request(self, data: bytes, peer: tuple[str, int]) -> None:
        try:
            pkt = self._factory.parse(data)
        except (TftpException, struct.error, UnicodeDecodeError, ValueError,
                IndexError, KeyError, TypeError) as err:
            self.bad_packets += 1
            if self.bad_packets <= 20 or self.bad_packets % 1000 == 0:
                log.warning("tftp: dropped malformed packet from %s (#%d): %s",
                            peer, self.bad_packets, err)
            return
        if isinstance(pkt, TftpPacketWRQ):
            self._sock.sendto(error_packet(ERR_ACCESS, "read-only server"), peer)
            return
        if not isinstance(pkt, TftpPacketRRQ):
            self.bad_packets += 1
            return
        t = threading.Thread(target=self._transfer, args=(pkt, peer), daemon=True,
                             name=f"tftp-{peer[0]}:{peer[1]}")
        self._transfers.add(t)
        t.start()

    def _transfer(self, pkt: TftpPacketRRQ, peer: tuple[str, int]) -> None:
        t0 = time.monotonic()
        rec = dict(time=time.time(), client=peer[0], port=peer[1], requested=pkt.filename,
                   remapped=None, bytes=0, blocks=0, duration=0.0, blksize=512, windowsize=1,
                   retransmits=0, result="error", error=None)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.ip, 0))
            try:
                remapped, path = self.resolver(pkt.filename, peer[0])
                rec["remapped"] = remapped
                fd = os.open(path, os.O_RDONLY)
            except TftpRefused as err:
                rec["error"], rec["remapped"] = str(err), err.remapped
                sock.sendto(error_packet(err.code, str(err)), peer)
                return
            except OSError as err:
                rec["error"] = f"cannot open: {err.strerror}"
                sock.sendto(error_packet(ERR_NOT_FOUND, "file not found"), peer)
                return
            try:
                Session(sock, peer, fd, negotiate(dict(pkt.options or {}), os.fstat(fd).st_size),
                        self._stop).run(rec)
            finally:
                os.close(fd)
        except OSError as err:
            rec["error"] = f"socket: {err}"
        except Exception as err:  # e.g. the registry failing: the record says why, not stderr
            rec["error"] = f"server: {type(err).__name__}: {err}"
            log.exception("tftp: transfer for %s failed", peer)
            with contextlib.suppress(OSError):
                sock.sendto(error_packet(0, "server error"), peer)
        finally:
            sock.close()
            rec["duration"] = round(time.monotonic() - t0, 6)
            self.log.write(TransferRecord(**rec))  # type: ignore[arg-type]
            log.info("tftp: %s %s -> %s: %s %d bytes", peer[0], pkt.filename, rec["remapped"],
                     rec["result"], rec["bytes"])
            self._transfers.discard(threading.current_thread())


class Session:
    """One read transfer: OACK handshake, then windows of DATA until the last block is acked."""

    def __init__(self, sock: socket.socket, peer: tuple[str, int], fd: int,
                 options: dict[str, str], stop: threading.Event) -> None:
        self.sock, self.peer, self.fd, self.options, self.stop = sock, peer, fd, options, stop
        self.blksize = int(options.get("blksize", 512))
        self.window = int(options.get("windowsize", 1))
        self.timeout = float(options.get("timeout", 1))
        self.size = os.fstat(fd).st_size
        self.last = self.size // self.blksize + 1  # a short (maybe empty) block ends it

    def _wait_ack(self) -> int:
        """The block number of the next ACK from our peer; raises TimeoutError or on ERROR.

        Waits in slices of at most 0.5 s so that a stopping server never waits for
        a client's long ``timeout`` option.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.is_set():
                raise TimeoutError("no ACK")
            self.sock.settimeout(min(left, 0.5))
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            if addr != self.peer:
                self.sock.sendto(error_packet(ERR_TID, "unknown transfer ID"), addr)
                continue
            if len(data) >= 4:
                op, num = struct.unpack_from("!HH", data)
                if op == OP_ACK:
                    return int(num)
                if op == OP_ERROR:
                    raise TftpRefused(num, "client sent ERROR "
                                      + data[4:].split(b"\0")[0].decode("latin-1"))

    def run(self, rec: dict[str, object]) -> None:
        rec["blksize"], rec["windowsize"] = self.blksize, self.window
        retrans = 0
        try:
            if self.options:
                oack = TftpPacketOACK()
                oack.options = self.options
                buf = oack.encode().buffer
                for _ in range(MAX_RETRIES + 1):
                    self.sock.sendto(buf, self.peer)
                    try:
                        if self._wait_ack() == 0:
                            break
                    except TimeoutError:
                        retrans += 1
                else:
                    raise TimeoutError("no ACK for the OACK")
            base, tries = 1, 0
            while base <= self.last:
                if self.stop.is_set():
                    raise TimeoutError("server stopping")
                top = min(base + self.window - 1, self.last)
                for n in range(base, top + 1):
                    chunk = os.pread(self.fd, self.blksize, (n - 1) * self.blksize)
                    self.sock.sendto(struct.pack("!HH", OP_DATA, n & 0xFFFF) + chunk, self.peer)
                while True:
                    try:
                        num = self._wait_ack()
                    except TimeoutError:
                        tries += 1
                        retrans += top - base + 1
                        if tries > MAX_RETRIES:
                            raise
                        break
                    # Map the 16-bit ACK number into the window (block numbers wrap).
                    k = base - 1 + ((num - (base - 1)) & 0xFFFF)
                    if base <= k <= top:
                        base, tries = k + 1, 0
                        break
            rec.update(result="ok", bytes=self.size, blocks=self.last)
        except TimeoutError as err:
            rec.update(result="timeout", error=str(err) or "no ACK")
        except TftpRefused as err:
            rec.update(result="client-error", error=str(err))
        finally:
            rec["retransmits"] = retrans
