"""The TFTP transfer engine over real UDP sockets on loopback, driven by a scripted client.

Each test plays a client that misbehaves in one way (loses a window, acks
twice, acks half a window, sends ERROR, disappears, goes silent) and checks
both what arrives on the wire and the server's transfer record.  Every test
runs against both loops of a one-block-per-ACK transfer: the C one
(``waltport.net._tftpfast``) and the Python one it stands in for.  No root
needed.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_fixtures import transfer_records

from waltport.net.tftp import TftpServer, TransferRecord
from waltport.net.tftp_map import ERR_NOT_FOUND, TftpRefused
from waltport.net.tftp_session import (
    MAX_RETRIES,
    PURE_ENV,
    fast_path,
    lockstep_loop,
    oack_packet,
    segments_per_send,
)

DATA, ACK, ERROR, OACK = 3, 4, 5, 6


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tftp-files")
    (root / "k").write_bytes(os.urandom(100 * 37 + 11))   # 38 blocks of 100
    (root / "exact").write_bytes(os.urandom(100 * 5))      # 5 full blocks + an empty one
    (root / "empty").write_bytes(b"")
    return root


@pytest.fixture(scope="module", params=[True, False], ids=["C-loop", "Python-loop"])
def server(files: Path, tmp_path_factory: pytest.TempPathFactory,
           request: pytest.FixtureRequest) -> Iterator[TftpServer]:
    def resolve(requested: str, client_ip: str) -> tuple[str, Path]:
        if requested.startswith("missing"):
            raise TftpRefused(ERR_NOT_FOUND, f"no {requested}", requested)
        return f"remapped/{requested}", files / requested

    srv = TftpServer("127.0.0.1", resolve, tmp_path_factory.mktemp("log") / "t.jsonl", port=0,
                     fast=request.param)
    srv.start()
    yield srv
    srv.stop()


def rrq(name: str, **options: int) -> bytes:
    body = name.encode() + b"\0octet\0"
    for k, v in options.items():
        body += k.encode() + b"\0" + str(v).encode() + b"\0"
    return struct.pack("!H", 1) + body


class Client:
    """A UDP socket speaking TFTP by hand; ``tid`` is the server's transfer address."""

    def __init__(self, server: TftpServer) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.server = ("127.0.0.1", server.port)
        self.tid: tuple[str, int] | None = None

    def request(self, name: str, **options: int) -> bytes:
        self.sock.sendto(rrq(name, **options), self.server)
        return self.recv()

    def recv(self, timeout: float = 5) -> bytes:
        self.sock.settimeout(timeout)
        data, addr = self.sock.recvfrom(70000)
        self.tid = self.tid or addr
        assert addr == self.tid
        return data

    def ack(self, n: int) -> None:
        assert self.tid is not None
        self.sock.sendto(struct.pack("!HH", ACK, n & 0xFFFF), self.tid)

    def close(self) -> None:
        self.sock.close()


def block(pkt: bytes) -> tuple[int, bytes]:
    op, n = struct.unpack_from("!HH", pkt)
    assert op == DATA, pkt[:40]
    return n, pkt[4:]


def record_for(server: TftpServer, port: int, timeout: float = 5) -> TransferRecord:
    """The transfer log line of the client on ``port`` (written when the transfer ends)."""
    recs = transfer_records(server.log.path, lambda r: r.port == port, timeout=timeout)
    if not recs:
        raise AssertionError(f"no transfer record for port {port}")
    return recs[-1]


@pytest.mark.skipif(bool(os.environ.get(PURE_ENV)), reason=f"{PURE_ENV} forces Python")
def test_the_c_loop_is_built() -> None:
    """bootstrap installs gcc and the headers, so the optional extension must be there."""
    assert fast_path() is None
    assert lockstep_loop() == "C"


def test_oack_and_segment_limits() -> None:
    assert oack_packet({"blksize": "1468", "tsize": "9"}) == (
        b"\x00\x06blksize\x001468\x00tsize\x009\x00")
    assert segments_per_send(8, 1468) == 8
    assert segments_per_send(64, 1468) == 44          # 64 KiB per datagram
    assert segments_per_send(64, 8) == 64             # the kernel's segment limit
    assert segments_per_send(4, 65464) == 1


def test_window_arrives_as_separate_datagrams_then_wraps_up(server: TftpServer,
                                                            files: Path) -> None:
    """windowsize 4: 4 DATA datagrams per ACK (one GSO send cut by the kernel), file exact."""
    c = Client(server)
    first = c.request("k", blksize=100, windowsize=4, tsize=0)
    assert first == b"\x00\x06blksize\x00100\x00windowsize\x004\x00tsize\x003711\x00"
    c.ack(0)
    got = bytearray()
    expect = 1
    while True:
        window = [block(c.recv()) for _ in range(min(4, 38 - expect + 1))]
        assert [n for n, _ in window] == list(range(expect, expect + len(window)))
        assert all(len(d) == 100 for _, d in window[:-1])
        got += b"".join(d for _, d in window)
        expect += len(window)
        c.ack(expect - 1)
        if len(window[-1][1]) < 100:
            break
    assert bytes(got) == (files / "k").read_bytes()
    rec = record_for(server, c.sock.getsockname()[1])
    assert (rec.result, rec.blocks, rec.windowsize, rec.retransmits) == ("ok", 38, 4, 0)
    assert rec.remapped == "remapped/k"
    c.close()


def test_lost_window_is_resent_after_the_timeout(server: TftpServer) -> None:
    c = Client(server)
    c.request("k", blksize=100, windowsize=3, timeout=1)
    c.ack(0)
    first = [block(c.recv())[0] for _ in range(3)]
    t0 = time.monotonic()
    again = [block(c.recv(timeout=3))[0] for _ in range(3)]  # no ACK sent: the window again
    assert first == again == [1, 2, 3]
    assert 0.8 < time.monotonic() - t0 < 2.5
    c.sock.sendto(struct.pack("!HH", ERROR, 0) + b"enough\0", c.tid)
    rec = record_for(server, c.sock.getsockname()[1])
    assert rec.result == "client-error" and "enough" in (rec.error or "")
    assert rec.retransmits == 3
    c.close()


def test_partial_ack_restarts_the_window_and_duplicates_change_nothing(
        server: TftpServer) -> None:
    c = Client(server)
    c.request("k", blksize=100, windowsize=4)
    c.ack(0)
    assert [block(c.recv())[0] for _ in range(4)] == [1, 2, 3, 4]
    c.ack(2)  # "block 3 was lost": the next window starts at 3
    assert [block(c.recv())[0] for _ in range(4)] == [3, 4, 5, 6]
    c.ack(2)  # an old ACK: nothing is sent
    c.ack(0)
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.3)
    c.ack(6)
    assert block(c.recv())[0] == 7
    c.close()


@pytest.mark.parametrize(("name", "sizes"), [("exact", [100] * 5 + [0]), ("empty", [0])])
def test_a_file_ends_with_a_short_or_empty_block(server: TftpServer, name: str,
                                                 sizes: list[int]) -> None:
    c = Client(server)
    assert c.request(name, blksize=100)[:2] == b"\x00\x06"  # OACK
    c.ack(0)
    seen = []
    for n in range(1, len(sizes) + 1):
        num, data = block(c.recv())
        assert num == n
        seen.append(len(data))
        c.ack(n)
    assert seen == sizes
    assert record_for(server, c.sock.getsockname()[1]).result == "ok"
    c.close()


def test_no_options_no_oack(server: TftpServer, files: Path) -> None:
    c = Client(server)
    num, data = block(c.request("k"))
    assert (num, data) == (1, (files / "k").read_bytes()[:512])
    c.close()


def test_refused_and_missing_files_get_an_error_packet(server: TftpServer) -> None:
    c = Client(server)
    pkt = c.request("missing.bin")
    assert struct.unpack_from("!HH", pkt) == (ERROR, ERR_NOT_FOUND) and b"no missing" in pkt
    rec = record_for(server, c.sock.getsockname()[1])
    assert (rec.result, rec.remapped) == ("error", "missing.bin")
    c.close()
    c = Client(server)
    pkt = c.request("nothere")
    assert struct.unpack_from("!HH", pkt) == (ERROR, ERR_NOT_FOUND)
    assert "cannot open" in (record_for(server, c.sock.getsockname()[1]).error or "")
    c.close()


def test_file_shrinking_mid_transfer_is_an_error_not_a_short_file(server: TftpServer,
                                                                  files: Path) -> None:
    (files / "shrinks").write_bytes(os.urandom(1000))
    c = Client(server)
    c.request("shrinks", blksize=100)
    c.ack(0)
    block(c.recv())
    with open(files / "shrinks", "r+b") as f:
        f.truncate(150)
    c.ack(1)
    c.ack(1)
    rec = record_for(server, c.sock.getsockname()[1])
    assert rec.result == "error" and "shrank" in (rec.error or ""), rec
    c.close()


def test_a_vanished_client_ends_the_transfer_at_once(server: TftpServer) -> None:
    """The client's port closes: ICMP port unreachable ends it, no 5 rounds of retries."""
    c = Client(server)
    c.request("k", blksize=100, timeout=1)
    port = c.sock.getsockname()[1]
    c.ack(0)
    c.recv()
    c.close()  # its next DATA (the retransmission) meets a closed port
    t0 = time.monotonic()
    rec = record_for(server, port, timeout=4)
    assert rec.result == "error" and "refused" in (rec.error or "").lower(), rec
    assert time.monotonic() - t0 < 3


def _lockstep_threads(client: Client) -> int:
    """Threads serving this client's transfer (another test's may still be ending)."""
    name = f"tftp-127.0.0.1:{client.sock.getsockname()[1]}"
    return sum(t.name == name for t in threading.enumerate())


def test_lockstep_ignores_duplicate_and_old_acks(server: TftpServer, files: Path) -> None:
    """One block per ACK: a repeated or older ACK sends nothing (no Sorcerer's Apprentice)."""
    c = Client(server)
    c.request("k", blksize=100)
    c.ack(0)
    assert block(c.recv())[0] == 1
    # The C loop serves the transfer from a thread of its own, the Python one from the loop.
    assert _lockstep_threads(c) == (1 if server.fast and fast_path() is None else 0)
    c.ack(1)
    assert block(c.recv())[0] == 2
    c.ack(1)
    c.ack(0)
    c.ack(40000)  # far ahead of anything sent: ignored as well
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.3)
    got = bytearray((files / "k").read_bytes()[:200])
    for n in range(2, 39):
        c.ack(n)
        if n < 38:
            num, data = block(c.recv())
            assert num == n + 1
            got += data
    assert bytes(got) == (files / "k").read_bytes()
    rec = record_for(server, c.sock.getsockname()[1])
    assert (rec.result, rec.blocks, rec.bytes, rec.retransmits) == ("ok", 38, 3711, 0)
    c.close()


def test_lockstep_client_error_mid_transfer(server: TftpServer) -> None:
    c = Client(server)
    c.request("k", blksize=100)
    for n in range(3):
        c.ack(n)
        assert block(c.recv())[0] == n + 1
    c.sock.sendto(struct.pack("!HH", ERROR, 3) + b"disk full\0junk", c.tid)
    rec = record_for(server, c.sock.getsockname()[1])
    assert (rec.result, rec.error, rec.bytes) == ("client-error",
                                                  "client sent ERROR 3: disk full", 0)
    c.close()


@pytest.mark.slow
def test_lockstep_silent_client_retries_then_times_out(server: TftpServer) -> None:
    """A client that stops acking (its port still open): the block again after the
    timeout, the transfer goes on when it acks, and ends after MAX_RETRIES."""
    c = Client(server)
    c.request("k", blksize=100, timeout=1)
    c.ack(0)
    assert block(c.recv())[0] == 1
    c.ack(1)
    assert block(c.recv())[0] == 2
    t0 = time.monotonic()
    assert block(c.recv(timeout=3))[0] == 2  # resent after the 1 s timeout
    assert 0.8 < time.monotonic() - t0 < 2.5
    c.ack(2)  # the loop resumes after a retransmission
    assert block(c.recv())[0] == 3
    resent = [block(c.recv(timeout=3))[0] for _ in range(MAX_RETRIES)]
    assert resent == [3] * MAX_RETRIES
    rec = record_for(server, c.sock.getsockname()[1], timeout=5)
    assert rec.result == "timeout" and "no ACK for block 3" in (rec.error or ""), rec
    assert rec.retransmits == 1 + MAX_RETRIES
    c.close()


def test_a_slow_client_gets_no_spurious_retransmits(server: TftpServer, files: Path) -> None:
    """A board that takes 8 ms per ACK: 256 of them outlast the 1 s timeout, which must
    count from the last ACK, not from when the loop was entered (no block sent twice)."""
    (files / "slow").write_bytes(os.urandom(100 * 300))
    c = Client(server)
    c.request("slow", blksize=100, timeout=1)
    c.ack(0)
    got: list[int] = []
    while True:
        n, data = block(c.recv())
        got.append(n)
        time.sleep(0.008)
        c.ack(n)
        if len(data) < 100:
            break
    rec = record_for(server, c.sock.getsockname()[1])
    assert (rec.result, rec.retransmits) == ("ok", 0), rec
    assert got == list(range(1, 302)), "a block came twice or out of order"
