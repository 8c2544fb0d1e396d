"""tcpdump on a board's tap inside the lab namespace, for the length of one boot.

``start`` returns once tcpdump says ``listening on`` (packets sent before
that would be lost); ``stop`` sends SIGINT so the pcap is flushed whole.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from waltport.errors import ToolMissing, WaltportError

READY_TIMEOUT = 15.0


class CaptureError(WaltportError):
    """tcpdump could not start."""


def tcpdump_argv(netns: str, interface: str, out: Path) -> list[str]:
    """The capture command: unbuffered, whole frames, a 32 MiB kernel buffer (a 30 MB
    kernel by TFTP comes in bursts that overflow the default one), inside ``netns``."""
    return ["ip", "netns", "exec", netns, "tcpdump", "-i", interface, "-w", str(out),
            "-s", "0", "-B", "32768", "--immediate-mode", "-U", "-n"]


class PacketCapture:
    """One tcpdump process; use as a context manager around a boot."""

    def __init__(self, netns: str, interface: str, out: Path) -> None:
        self.argv = tcpdump_argv(netns, interface, out)
        self.out = out
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PacketCapture:
        if not Path("/usr/bin/tcpdump").exists() and not Path("/usr/sbin/tcpdump").exists():
            raise ToolMissing("tcpdump", "tcpdump")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)
        assert self._proc.stderr is not None
        deadline = time.monotonic() + READY_TIMEOUT
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stderr], [], [], 0.2)
            if ready:
                chunk = os.read(self._proc.stderr.fileno(), 4096)
                seen += chunk
                if b"listening on" in seen:
                    return self
                if not chunk:
                    break
        self.stop()
        raise CaptureError(f"tcpdump did not start: {seen.decode(errors='replace').strip()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> PacketCapture:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
