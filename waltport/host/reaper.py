"""A guardian that takes labs down when the process that brought them up dies.

A lab brought up for one run (:func:`waltport.lab.boot.lab_session`) is taken
down by that run's ``finally``; a SIGKILL, an out-of-memory kill or a crash
of the interpreter skips it and would leave the namespaces behind.  The
guardian is a small process in a session of its own (a Ctrl-C or a signal
to the run's process group does not reach it) that reads ``up NAME`` and
``down NAME`` lines on its stdin.  The kernel closes that pipe when the run's
process is gone, however it ended: the guardian then takes down every lab
still marked up, and exits.  One guardian per process, started at the first
lab it must watch.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from typing import IO


class _Guardian:
    """This process's guardian, started when first needed (edge)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None

    def _stdin(self) -> IO[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "waltport.host.reaper"], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, text=True, start_new_session=True)
        assert self.proc.stdin is not None
        return self.proc.stdin

    def tell(self, line: str, *, start: bool) -> None:
        with self.lock:
            if not start and (self.proc is None or self.proc.poll() is not None):
                return
            with contextlib.suppress(BrokenPipeError):
                out = self._stdin()
                out.write(line + "\n")
                out.flush()


_GUARDIAN = _Guardian()


def watch(lab: str) -> None:
    """Edge: have lab ``lab`` taken down if this process dies before :func:`release`."""
    _GUARDIAN.tell(f"up {lab}", start=True)


def release(lab: str) -> None:
    """Edge: this process took lab ``lab`` down itself (or hands it over)."""
    _GUARDIAN.tell(f"down {lab}", start=False)


def pending(lines: list[str]) -> list[str]:
    """The labs still up after the ``up``/``down`` lines, in the order they came (pure)."""
    up: dict[str, None] = {}
    for line in lines:
        verb, _, name = line.strip().partition(" ")
        if verb == "up" and name:
            up[name] = None
        elif verb == "down":
            up.pop(name, None)
    return list(up)


def main() -> int:
    """The guardian: wait for end-of-file, then take down what is still up."""
    from waltport.errors import WaltportError  # noqa: PLC0415
    from waltport.host.netns import Lab  # noqa: PLC0415

    lines = list(sys.stdin)
    failed = 0
    for name in pending(lines):
        try:
            Lab(name).down()
        except WaltportError as err:
            print(f"waltport: could not take lab {name} down: {err}", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
