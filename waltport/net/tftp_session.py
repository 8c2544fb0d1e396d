"""One TFTP read transfer, driven by the server's event loop (no thread of its own).

The per-block path is what bounds a transfer (one stream waits a round trip
per window), so it is kept short, measured in ``docs/benchmarks.md``:

* the transfer socket is *connected* to the client (as tftpd-hpa does): the
  kernel drops packets from any other address or port, ``send``/``recv`` skip
  the per-packet route lookup, and an ICMP "port unreachable" (a board that
  reset) ends the transfer at once instead of after every retry;
* file data goes straight into a preallocated buffer behind the 4-byte DATA
  headers with one ``preadv`` per window (no per-block ``bytes`` copies), and
  leaves with one ``send``: with a window, UDP segmentation offload (GSO,
  ``UDP_SEGMENT``) makes the kernel cut that one buffer into the window's
  datagrams, one system call for up to 44 blocks of 1468 bytes;
* the loop calls :meth:`Session.readable` when an ACK is waiting and
  :meth:`Session.expired` when the deadline passed; only a worker's lone
  transfer waits in ``recv`` for a while (:meth:`Session.pump`).

Block numbers are 16 bits on the wire and wrap to 0 (as tftpd-hpa and atftp
do); inside, blocks are counted without wrapping.

A transfer with one block per ACK (``Session.lockstep``) answers its ACKs
in C when the optional extension ``waltport.net._tftpfast`` was built
(:func:`fast_path`): :meth:`Session.pump` then waits, receives, matches and
sends inside C, with the interpreter lock released, the same packets and
results as the Python loop without the interpreter's share of every round
trip; ``WALTPORT_TFTP_PURE=1`` forces the Python loop.  The server drives
such a transfer from a thread of its own (pump, deadlines), never through
:meth:`Session.readable`.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from waltport.errors import WaltportError

try:
    from waltport.net import _tftpfast
except ImportError:  # not compiled (no C compiler at install): the Python loop
    _tftpfast = None  # type: ignore[assignment]  # the module or None, checked before use

OP_DATA, OP_ACK, OP_ERROR, OP_OACK = 3, 4, 5, 6
MAX_RETRIES = 5
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # linux/udp.h; Python 3.11 lacks the name
GSO_MAX_SEGMENTS = 64       # the kernel's UDP_MAX_SEGMENTS (64 before Linux 6.x raised it)
GSO_MAX_BYTES = 65000       # one UDP datagram (the GSO super-packet) stays under 64 KiB
_HEADER = struct.Struct("!HH")
PUMP_PACKETS = 256          # packets a lone transfer is served before the loop looks around
PUMP_WAIT = 0.01            # s a lone transfer waits in recv for its client
_PUMP_WAIT = struct.pack("@ll", 0, int(PUMP_WAIT * 1e6))  # struct timeval
PURE_ENV = "WALTPORT_TFTP_PURE"
# Why _tftpfast.lockstep ended a transfer (its ST_* codes; 0 and 1: it goes on).
_DONE, _CLIENT_ERROR, _SOCKET, _SHRANK = 2, 3, 4, 5


class FileChanged(WaltportError):
    """The file got shorter while it was being served (rewritten in place)."""


def fast_path() -> str | None:
    """Why lock-step transfers run in Python (None: they run in C)."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return f"{PURE_ENV} is set"
    if _tftpfast is None:
        return "the C extension waltport.net._tftpfast is not built"
    return None


def lockstep_loop() -> str:
    """Where one-block-per-ACK transfers run, for start-up lines: "C" or "Python (why)"."""
    why = fast_path()
    return "C" if why is None else f"Python ({why})"


def shrank(at: int, size: int) -> str:
    """Pure: the transfer's error when the file ended at ``at`` bytes instead of ``size``."""
    return f"file shrank to {at} bytes while being sent (was {size})"


def oack_packet(options: dict[str, str]) -> bytes:
    """An OACK (RFC 2347): opcode 6, then ``name\\0value\\0`` pairs in the given order."""
    body = b"".join(k.encode("ascii") + b"\0" + v.encode("ascii") + b"\0"
                    for k, v in options.items())
    return _HEADER.pack(OP_OACK, 0)[:2] + body


def segments_per_send(window: int, blksize: int) -> int:
    """Blocks one GSO send may carry (kernel limits on segments and datagram size)."""
    return max(1, min(window, GSO_MAX_SEGMENTS, GSO_MAX_BYTES // (blksize + 4)))


class _Frames:
    """A buffer of DATA frames (4-byte header, then a block) ready for one send."""

    def __init__(self, blksize: int, count: int) -> None:
        self.seg = blksize + 4
        self.buf = bytearray(self.seg * count)
        view = memoryview(self.buf)
        self.view = view
        self.regions = [view[i * self.seg + 4:(i + 1) * self.seg] for i in range(count)]

    def fill(self, fd: int, first: int, count: int, blksize: int, size: int) -> memoryview:
        """Blocks ``first`` .. ``first + count - 1`` read from ``fd``: the bytes to send."""
        offset = (first - 1) * blksize
        want = min(count * blksize, size - offset)
        got = os.preadv(fd, self.regions[:count], offset) if want > 0 else 0
        if got < want:
            raise FileChanged(shrank(offset + got, size))
        if count == 1:
            _HEADER.pack_into(self.buf, 0, OP_DATA, first & 0xFFFF)
            return self.view[:4 + got]
        for i in range(count):
            _HEADER.pack_into(self.buf, i * self.seg, OP_DATA, (first + i) & 0xFFFF)
        return self.view[:(count - 1) * self.seg + 4 + got - (count - 1) * blksize]


class Session:
    """A read transfer over ``sock`` (bound, connected to the client) from ``fd``.

    ``options`` are the negotiated ones (:func:`waltport.net.tftp.negotiate`);
    when there are any the transfer starts with an OACK (block 0 of the
    exchange), else with the first window of DATA.  ``done`` is set once the
    last block is acknowledged, the client sent ERROR, the retries ran out or
    the socket failed; ``result`` and ``error`` then say which.

    The next window is read ahead into a second buffer right after a window
    leaves, while the client works: the ACK that confirms the whole window is
    then answered by a single ``send``.

    ``fast``: answer the ACKs of a one-block window in C (None: when
    :func:`fast_path` allows it; True without the extension is the Python loop).
    """

    def __init__(self, sock: socket.socket, fd: int, options: dict[str, str],
                 fast: bool | None = None) -> None:
        self.sock, self.fd, self.options = sock, fd, options
        self.blksize = int(options.get("blksize", 512))
        self.window = int(options.get("windowsize", 1))
        self.timeout = float(options.get("timeout", 1))
        self.size = os.fstat(fd).st_size
        self.last = self.size // self.blksize + 1  # a short (maybe empty) block ends it
        self.acked = -1 if options else 0           # highest block the client confirmed
        self.top = 0                                # highest block sent
        self.tries = self.retransmits = 0
        self.deadline = 0.0
        self.done = False
        self.result, self.error = "error", ""
        self.per_send = 1
        if self.window > 1 and self._enable_gso(self.blksize + 4):
            self.per_send = segments_per_send(self.window, self.blksize)
        self._frames = (_Frames(self.blksize, self.per_send), _Frames(self.blksize, self.per_send))
        self._spare = 1                                   # index of the read-ahead buffer
        self._ahead: tuple[int, memoryview] | None = None  # (its top block, its bytes)
        self._ack = bytearray(516)
        # The C loop's state besides acked/top: two frames, the block read ahead
        # into frames[spare] (0: none); Python's own sends leave it unset.
        if fast is None:
            fast = fast_path() is None
        self.lockstep = fast and self.window == 1 and _tftpfast is not None
        self._cframes = bytearray(2 * (self.blksize + 4)) if self.lockstep else bytearray()
        self._cahead = self._cspare = 0
        # What a blocking recv waits at most (pump); MSG_DONTWAIT reads ignore it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _PUMP_WAIT)

    def _enable_gso(self, seg: int) -> bool:
        try:
            self.sock.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, seg)
        except OSError:  # no UDP GSO in this kernel: one send per block
            return False
        return True

    # -- events from the loop ---------------------------------------------
    def start(self, now: float) -> None:
        """Send the OACK or the first window."""
        self._send_window(now)

    def readable(self, now: float) -> None:
        """Read one packet; an ACK that moves the window sends the next one.

        One packet per call: the loop's epoll is level-triggered and calls
        again while more wait, and a second ``recv`` that finds nothing would
        cost a system call and an exception on every block.
        """
        self._receive(socket.MSG_DONTWAIT, now)

    def pump(self, now: float) -> None:
        """Serve this transfer alone for up to PUMP_PACKETS packets, waiting in ``recv``.

        For a loop with a single transfer: a blocking ``recv`` is one system
        call per ACK where ``epoll_wait`` + ``recv`` are two plus the loop's
        dispatch, about a fifth of a lock-step stream's time (measured in
        docs/benchmarks.md).  It returns to the loop (new requests, deadlines,
        stop) after PUMP_PACKETS, when the transfer ends, or when the client
        has been silent for PUMP_WAIT.  A lock-step session does all of it in C.
        """
        if self.lockstep:
            self._pump_c()
            return
        # The clock is read per packet: a slow client's 256 ACKs can take longer
        # than the timeout, and a deadline counted from ``now`` would already have
        # passed (a spurious retransmit).
        for _ in range(PUMP_PACKETS):
            if self.done or not self._receive(0, time.monotonic()):
                return

    def _pump_c(self) -> None:
        """:meth:`pump` in C: what :meth:`_receive` does, for up to PUMP_PACKETS packets."""
        assert _tftpfast is not None
        (status, self.acked, self.top, self._cahead, self._cspare, moved, info,
         message) = _tftpfast.lockstep(self.sock.fileno(), self.fd, self._cframes,
                                       self.blksize, self.size, self.last, self.acked,
                                       self.top, self._cahead, self._cspare, PUMP_PACKETS)
        if moved:   # the deadline counts from the last ACK, not from the call (256 of them)
            self.tries, self.deadline = 0, time.monotonic() + self.timeout
        if status == _DONE:
            self._finish("ok", "")
        elif status == _CLIENT_ERROR:
            self._finish("client-error",
                         f"client sent ERROR {info}: {message.decode('latin-1')}")
        elif status == _SOCKET:
            self._finish("error", f"socket: {os.strerror(info)}")
        elif status == _SHRANK:
            self._finish("error", shrank(info, self.size))

    def _receive(self, flags: int, now: float) -> bool:
        """One packet (``flags``: MSG_DONTWAIT or 0 to wait PUMP_WAIT); False if none came."""
        try:
            n = self.sock.recv_into(self._ack, 516, flags)
        except BlockingIOError:
            return False
        except OSError as err:  # ICMP port unreachable: the client is gone
            self._finish("error", f"socket: {err.strerror or err}")
            return False
        if n < 4:
            return True
        op, num = _HEADER.unpack_from(self._ack)
        if op == OP_ACK:
            # The 16-bit number, mapped to the first block at or after the acked one.
            k = self.acked + ((num - self.acked) & 0xFFFF)
            if self.acked < k <= self.top:  # older and duplicate ACKs change nothing
                self.acked, self.tries = k, 0
                if k >= self.last:
                    self._finish("ok", "")
                elif k == self.top and self._ahead is not None:
                    self._send_ahead(now)
                else:
                    self._send_window(now)
        elif op == OP_ERROR:
            msg = bytes(self._ack[4:n]).split(b"\0")[0].decode("latin-1")
            self._finish("client-error", f"client sent ERROR {num}: {msg}")
        return True

    def expired(self, now: float) -> None:
        """No progress before the deadline: resend from the first unacknowledged block."""
        self.tries += 1
        if self.tries > MAX_RETRIES:
            what = "the OACK" if self.acked < 0 else f"block {self.acked + 1}"
            self._finish("timeout", f"no ACK for {what} after {MAX_RETRIES} retries")
            return
        self.retransmits += max(1, self.top - self.acked)
        self._send_window(now)

    def abort(self, reason: str, result: str = "timeout") -> None:
        self._finish(result, reason)

    # -- sending ------------------------------------------------------------
    def _send_window(self, now: float) -> None:
        """(Re)send the window after the acked block, then read the next one ahead."""
        self.deadline = now + self.timeout
        self._ahead = None
        self._cahead = 0
        try:
            if self.acked < 0:
                self.sock.send(oack_packet(self.options))
                return
            first = self.acked + 1
            self.top = min(self.acked + self.window, self.last)
            frames = self._frames[1 - self._spare]
            while first <= self.top:
                count = min(self.per_send, self.top - first + 1)
                data = frames.fill(self.fd, first, count, self.blksize, self.size)
                if self._send(data, count):
                    first += count
            self._read_ahead()
        except FileChanged as err:
            self._finish("error", str(err))
        except OSError as err:
            self._finish("error", f"socket: {err.strerror or err}")

    def _send_ahead(self, now: float) -> None:
        """The whole window was acked: send the one read ahead, read the next."""
        assert self._ahead is not None
        self.deadline = now + self.timeout
        top, data = self._ahead
        self._ahead = None
        try:
            count = top - self.top
            if count == 1:  # no GSO involved: the common, lock-step case sends directly
                self.sock.send(data)
            elif not self._send(data, count):
                self._send_window(now)
                return
            self.top = top
            self._spare = 1 - self._spare
            self._read_ahead()
        except FileChanged as err:
            self._finish("error", str(err))
        except OSError as err:
            self._finish("error", f"socket: {err.strerror or err}")

    def _read_ahead(self) -> None:
        """Fill the spare buffer with the next window when it fits in one send."""
        count = min(self.window, self.last - self.top)
        if 0 < count <= self.per_send:
            data = self._frames[self._spare].fill(self.fd, self.top + 1, count, self.blksize,
                                                  self.size)
            self._ahead = (self.top + count, data)

    def _send(self, data: memoryview, count: int) -> bool:
        """One send; False if GSO refused it (then every later send is one block)."""
        try:
            self.sock.send(data)
        except OSError:
            if count == 1:
                raise
            # E.g. blocks larger than the path MTU: the kernel will not segment them.
            self.sock.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, 0)
            self.per_send = 1
            return False
        return True

    def _finish(self, result: str, error: str) -> None:
        self.done, self.result, self.error = True, result, error
