"""BenchServer: the bench server as a child process inside a lab namespace.

    with BenchServer(Lab("walt-lab").up(), Path("image-root")) as srv:
        ...  # boards boot; srv.registry.devices(), read_transfer_log(srv.transfer_log)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from waltport.errors import WaltportError
from waltport.host.netns import BRIDGE, Lab, is_owned
from waltport.host.proc import lifeline
from waltport.net.registry import Registry
from waltport.net.serveconfig import ServeConfig
from waltport.util.paths import state_dir

READY_TIMEOUT = 30.0


class ServerError(WaltportError):
    """The bench server could not start or stopped unexpectedly."""

    exit_code = 5


def lab_state_dir(lab_name: str) -> Path:
    """Default per-lab state dir: ``<state>/labs/<name>``."""
    return state_dir() / "labs" / lab_name


@dataclass(frozen=True)
class ServeOn:
    """Where the server runs: a namespace (None: this one), its interface, the guard's inputs."""

    netns: str | None
    interface: str
    lab: str | None = None          # a lab the project created (the guard's first test)
    isolated_ack: bool = False      # --i-know-this-network-is-isolated

    @classmethod
    def on_lab(cls, lab: Lab) -> ServeOn:
        return cls(lab.netns, BRIDGE, lab.name)

    def exec_argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv


def serve_argv(where: Lab | ServeOn, image_root: Path, pxe_first_stage: Path | None,
               state: Path, tftp_workers: int | None = None, *,
               lifeline_fd: int | None = None) -> list[str]:
    """The command line of the server process (inside the lab namespace, or on ``where``)."""
    on = ServeOn.on_lab(where) if isinstance(where, Lab) else where
    config = ServeConfig(on.interface, image_root, state, on.lab, on.isolated_ack,
                         pxe_first_stage, tftp_workers, lifeline_fd)
    return on.exec_argv([sys.executable, "-m", "waltport.net.serve", *config.argv()])


def lock_state(state: Path) -> int:
    """Edge: an exclusive lock on ``state`` (held while the fd is open), or ServerError.

    One server per state dir: a second one would truncate the first one's
    ``serve.stderr`` and fight over its ports and registry.  The kernel drops
    the lock when the holder dies, so a crash never leaves a stale lock.
    """
    path = state / "serve.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ServerError(f"a bench server (pid {holder}) already runs on state dir {state}: "
                          "stop it first, or give another --state") from err
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class BenchServer:
    """DHCP + TFTP (+ RA, boot notifications) for one lab (or a bench interface, ``ServeOn``).

    ``start`` returns once it serves.
    ``tftp_workers``: TFTP worker processes (None: one per CPU, at least 2).
    """

    def __init__(self, lab: Lab | ServeOn, image_root: Path, *,
                 pxe_first_stage: Path | None = None,
                 state: Path | None = None, tftp_workers: int | None = None) -> None:
        if tftp_workers is not None and tftp_workers < 1:
            raise ServerError(f"tftp_workers must be >= 1, got {tftp_workers}")
        self.tftp_workers = tftp_workers
        self.lab = lab
        self.image_root = Path(image_root).resolve()
        self.pxe_first_stage = Path(pxe_first_stage).resolve() if pxe_first_stage else None
        self.state = Path(state) if state else lab_state_dir(
            lab.name if isinstance(lab, Lab) else "bench")
        self.info: dict[str, object] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._lifeline: int | None = None
        self._lock: int | None = None

    @property
    def registry(self) -> Registry:
        return Registry(self.state / "registry.sqlite")

    @property
    def transfer_log(self) -> Path:
        return self.state / "tftp-transfers.jsonl"

    @property
    def log_path(self) -> Path:
        return self.state / "server.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> BenchServer:
        """Start the server process and wait for its READY line (ServerError otherwise)."""
        if not self.image_root.is_dir():
            raise ServerError(f"image root {self.image_root} is not a directory")
        if self.pxe_first_stage is not None and not self.pxe_first_stage.is_file():
            raise ServerError(f"PXE first stage {self.pxe_first_stage} is not a file")
        if isinstance(self.lab, Lab) and not is_owned(self.lab.name):
            raise ServerError(f"lab {self.lab.name} is not up (waltport lab up --name "
                              f"{self.lab.name})")
        self.state.mkdir(parents=True, exist_ok=True)
        self._lock = lock_state(self.state)
        err_path = self.state / "serve.stderr"
        with open(err_path, "w") as err:
            # The server stops when this process dies, even by SIGKILL: an orphan
            # would keep the lab's ports and the next `serve` would fail.
            watch_r, self._lifeline = lifeline()
            try:
                self._proc = subprocess.Popen(
                    serve_argv(self.lab, self.image_root, self.pxe_first_stage, self.state,
                               self.tftp_workers, lifeline_fd=watch_r),
                    stdout=subprocess.PIPE, stderr=err, text=True, pass_fds=(watch_r,))
            except BaseException:
                self.stop()
                raise
            finally:
                os.close(watch_r)
        assert self._proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.2)
            if ready:
                line = self._proc.stdout.readline()
                if line.startswith("READY "):
                    self.info = json.loads(line[6:])
                    return self
            if self._proc.poll() is not None:
                break
        self.stop()
        tail = err_path.read_text().strip().splitlines()[-3:]
        raise ServerError("bench server did not start: " + (" | ".join(tail) or "timeout"))

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 10 s; returns the exit code."""
        proc, self._proc = self._proc, None
        if self._lifeline is not None:
            os.close(self._lifeline)   # the server sees end-of-file and stops by itself
            self._lifeline = None
        try:
            return self._end(proc)
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    @staticmethod
    def _end(proc: subprocess.Popen[str] | None) -> int | None:
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
