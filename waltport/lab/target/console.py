"""Consoles: every line of a board's serial output, time-stamped, waited for and typed on.

:class:`LineConsole` holds what every console does: a reader thread splits
the byte stream into lines, stamps each with seconds since the console was
opened (monotonic clock) into the log file and into memory;
:meth:`LineConsole.expect` waits for a pattern in the lines *and* in the
unfinished last line (U-Boot's ``=> `` prompt has no newline).  Where the
bytes come from is the only difference between implementations:
:class:`Console` (a process's stdio, e.g. QEMU ``-serial stdio``) here, and
:class:`waltport.lab.target.serial.SerialConsole` (a tty, e.g. a USB-serial
adapter).  ``stop()`` always leaves no process or open port behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from waltport.errors import WaltportError

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class ConsoleError(WaltportError):
    """A console cannot be opened or written to."""

    exit_code = 4


class ConsoleTimeout(WaltportError):
    """The awaited console text did not come in time; ``tail`` has the last lines."""

    def __init__(self, what: str, elapsed: float, tail: Sequence[str]) -> None:
        self.what = what
        self.elapsed = elapsed
        self.tail = tuple(tail)
        lines = [f"no {what} on the console after {elapsed:.1f} s; last lines:"]
        lines += [f"  | {ln}" for ln in self.tail] or ["  | (nothing)"]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Line:
    time: float      # seconds since the console was opened
    text: str


def clean(raw: str) -> str:
    """A console line without escape sequences and carriage returns."""
    return ANSI_RE.sub("", raw)


def format_log_line(line: Line) -> str:
    return f"[{line.time:10.6f}] {line.text}\n"


class LineConsole:
    """The line log shared by every console; subclasses give the bytes (``_chunk``)."""

    kind = "console"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.lines: list[Line] = []
        self._partial = ""
        self._cursor = 0
        # A match inside the unfinished last line: (its future index, end of the match),
        # so the same text is not matched again when the line completes.
        self._partial_match = (-1, 0)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.started_at = 0.0
        self.started_wall = 0.0

    # -- what a subclass provides -----------------------------------------
    def _chunk(self) -> bytes | None:
        """The next bytes (b"" when idle), None at the end of the stream."""
        raise NotImplementedError

    def running(self) -> bool:
        """Whether bytes can still come."""
        raise NotImplementedError

    # -- the line log -------------------------------------------------------
    def _begin(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started_wall = time.time()
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._read, name="console-reader", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic() - self.started_at

    def _read(self) -> None:
        with open(self.log_path, "w", encoding="utf-8") as log:
            while True:
                chunk = self._chunk()
                if chunk is None:
                    break
                if not chunk:
                    continue
                with self._cond:
                    self._partial += chunk.decode("utf-8", "replace")
                    *done, self._partial = self._partial.split("\n")
                    for raw in done:
                        line = Line(self.now(), clean(raw))
                        self.lines.append(line)
                        log.write(format_log_line(line))
                    log.flush()
                    self._cond.notify_all()
            with self._cond:
                if self._partial:
                    line = Line(self.now(), clean(self._partial))
                    self.lines.append(line)
                    log.write(format_log_line(line))
                    self._partial = ""
                self._cond.notify_all()

    def _ended(self) -> bool:
        return not self.running() and self._thread is not None and not self._thread.is_alive()

    def expect(self, pattern: str, timeout: float, what: str | None = None) -> tuple[float, str]:
        """Wait for ``pattern`` (regex) after the last match; (time, line or partial line)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._cursor < len(self.lines):
                    line = self.lines[self._cursor]
                    start = self._skip(self._cursor)
                    self._cursor += 1
                    if rx.search(line.text, start):
                        return line.time, line.text
                partial = clean(self._partial)
                start = self._skip(len(self.lines))
                m = rx.search(partial, start) if partial else None
                if m is not None:
                    self._partial_match = (len(self.lines), m.end())
                    return self.now(), partial
                left = deadline - time.monotonic()
                if left <= 0 or self._ended():
                    raise ConsoleTimeout(what or repr(pattern), self.now(), self.tail())
                self._cond.wait(min(left, 0.2))

    def _skip(self, index: int) -> int:
        line, end = self._partial_match
        return end if line == index else 0

    def snapshot(self) -> tuple[list[Line], str]:
        """The complete lines so far and the unfinished last one."""
        with self._cond:
            return list(self.lines), clean(self._partial)

    def tail(self, n: int = 15) -> list[str]:
        with self._cond:
            out = [ln.text for ln in self.lines[-n:]]
            if self._partial:
                out.append(clean(self._partial))
        return out[-n:]

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(5)


class Console(LineConsole):
    """One process whose stdio is a serial console (QEMU ``-serial stdio``)."""

    kind = "process"

    def __init__(self, argv: Sequence[str], log_path: Path) -> None:
        super().__init__(log_path)
        self.argv = list(argv)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Console:
        # Own session: a Ctrl-C in the terminal reaches us, not QEMU directly.
        self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self._begin()
        return self

    def __enter__(self) -> Console:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _chunk(self) -> bytes | None:
        assert self._proc is not None and self._proc.stdout is not None
        return os.read(self._proc.stdout.fileno(), 4096) or None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def send(self, text: str) -> None:
        """Type ``text`` on the console."""
        if self._proc is None or self._proc.stdin is None or not self.running():
            raise ConsoleError("the console's process is not running")
        self._proc.stdin.write(text.encode())
        self._proc.stdin.flush()

    def wait(self, timeout: float) -> int | None:
        """The exit code once the process ends within ``timeout``, else None."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 3.0) -> int | None:
        """End the process (TERM, then KILL) and the reader; the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._join()
        return self._proc.returncode
