"""TFTP over several worker processes sharing one listening socket (pre-fork).

The parent binds ``ip:69`` once, then forks N workers that all read requests
from that same socket; a request goes to whichever worker reads it first,
which then runs the transfer (its own socket, its own thread) in that process.
Each worker has its own interpreter lock, so N workers use up to N cores where
one process ran every transfer under one lock (the boot storm benchmark).

Why one shared socket rather than N sockets bound with SO_REUSEPORT: the port
is bound exactly once, so "address in use" still fails loudly, and a stale
server (which would also set SO_REUSEPORT) can never silently take a share of
the requests; requests go to an idle worker rather than to a hash of the
client's address and port; a worker that dies leaves the others serving the
same socket. Why not a listener feeding a pool: every request would cross a
pipe, and the listener would be one more process to keep alive.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

from waltport.host.proc import die_with_parent
from waltport.net.tftp import Resolver, TftpServer, listen_socket
from waltport.net.tftp_session import lockstep_loop

log = logging.getLogger("waltport.net.tftp")
STOP_TIMEOUT = 10.0


def default_workers() -> int:
    """One worker per CPU, at least 2."""
    return max(2, os.cpu_count() or 1)


# TFTP workers yield the CPU to DHCP under a boot storm: they run this much
# nicer than the server process, which raises itself by as much first
# (waltport.net.serve), so that they are not below the rest of the machine.
NICENESS = 5


class TftpWorkers:
    """N forked TFTP worker processes on one socket; ``start`` returns once all listen.

    ``make_resolver`` runs in each worker after the fork, so that each opens
    its own registry connection (SQLite connections must not cross a fork).
    """

    def __init__(self, ip: str, make_resolver: Callable[[], Resolver], log_path: Path,
                 count: int, port: int = 69) -> None:
        if count < 1:
            raise ValueError(f"tftp workers: need at least 1, got {count}")
        self.ip, self.port, self.count = ip, port, count
        self.make_resolver, self.log_path = make_resolver, log_path
        self._ctx = multiprocessing.get_context("fork")
        self._procs: list[BaseProcess] = []
        self._parent = os.getpid()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def alive(self) -> int:
        """How many workers are still running."""
        return sum(p.is_alive() for p in self._procs)

    def start(self, timeout: float = 15.0) -> TftpWorkers:
        """Bind, fork the workers, wait until every one serves (OSError otherwise).

        Call before the parent starts threads: a fork copies only the calling thread.
        Readiness and stop go through a pipe and signals, not multiprocessing
        events: a worker killed while inside ``Event.wait`` keeps the event's
        lock forever, and the next ``set()`` would hang the parent.
        """
        # No SQLite connection may cross the fork (see Registry.__init__); some
        # linger in reference cycles until the cyclic GC runs, so run it now.
        gc.collect()
        sock = listen_socket(self.ip, self.port)
        ready_r, ready_w = os.pipe()
        try:
            for n in range(self.count):
                proc = self._ctx.Process(target=self._worker, args=(sock, ready_r, ready_w),
                                         name=f"waltport-tftp-{n}", daemon=True)
                proc.start()
                self._procs.append(proc)
        except BaseException:
            self.stop()
            os.close(ready_r)
            raise
        finally:
            sock.close()  # the workers hold their copies; the parent never reads it
            os.close(ready_w)
        try:
            self._wait_ready(ready_r, timeout)
        finally:
            os.close(ready_r)
        return self

    def _wait_ready(self, ready_r: int, timeout: float) -> None:
        """One byte per worker on the pipe; EOF or the deadline first means a failed start."""
        got, deadline = 0, time.monotonic() + timeout
        while got < self.count:
            left = deadline - time.monotonic()
            readable = left > 0 and select.select([ready_r], [], [], left)[0]
            chunk = os.read(ready_r, self.count) if readable else b""
            if not chunk:
                dead = [p.exitcode for p in self._procs if not p.is_alive()]
                self.stop()
                raise OSError(f"{self.count - got} of {self.count} TFTP workers did not start "
                              f"(exit codes of those that died: {dead})")
            got += len(chunk)

    def stop(self) -> None:
        """SIGTERM every worker (they end or abort their transfers), SIGKILL stragglers."""
        for proc in self._procs:
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self._procs = []

    def _worker(self, sock: socket.socket, ready_r: int, ready_w: int) -> None:
        """Body of one worker process (runs after the fork)."""
        term = threading.Event()
        # Ctrl-C or a closed terminal reaches the whole group: the parent decides.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: term.set())
        # SIGTERM when the parent dies, however it dies (SIGKILL included).
        die_with_parent(signal.SIGTERM, parent=self._parent)
        os.close(ready_r)
        # A late DHCP answer costs a board a retry or a reset; a slower transfer
        # costs only time: under load the DHCP process gets the CPU first.
        os.nice(NICENESS)
        server = TftpServer(self.ip, self.make_resolver(), self.log_path, sock=sock)
        server.start()
        log.info("tftp worker %d serving %s:%d, lock-step transfers in %s", os.getpid(),
                 self.ip, self.port, lockstep_loop())
        os.write(ready_w, b"1")
        os.close(ready_w)
        # The parent check also covers a parent gone before die_with_parent ran.
        while not term.wait(0.5) and os.getppid() == self._parent:
            pass
        server.stop()
