"""Packet captures with tcpdump, inside a lab namespace or on a given interface.

Passive only: tcpdump never sends.  ``start`` returns once tcpdump prints
``listening on`` (earlier packets would be lost); ``stop`` waits a grace
period, flushes, and renames the pcap from its temporary name, so a pcap at
``out`` is always complete.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from waltport.errors import ToolMissing, WaltportError


class CaptureError(WaltportError):
    """tcpdump could not start or failed."""


RING_KIB = 256 * 1024


def tcpdump_argv(netns: str | None, interface: str, out: Path, bpf: str | None = None) -> list[str]:
    """The tcpdump command line (``ip netns exec`` prefix when ``netns`` is given).

    The kernel ring (``-B``, KiB) is counted in frames of the largest packet
    the interface may carry: with segmentation offload (veth, bridge) that is
    64 KiB, so 32 MiB held only 512 packets and a TFTP burst while tcpdump
    waited for a CPU lost packets (the RRQ of a file among them).  256 MiB is
    4096 packets of any size.
    """
    argv = ["tcpdump", "-i", interface, "-w", str(out), "--immediate-mode", "-U", "-n",
            "-s", "0", "-B", str(RING_KIB), "-Z", "root"]
    if bpf:
        argv.append(bpf)
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


class Capture:
    """Capture ``interface`` (in ``netns`` or here) into ``out`` between start and stop."""

    def __init__(self, netns: str | None, interface: str, out: Path, bpf: str | None = None,
                 grace: float = 1.0) -> None:
        self.netns, self.interface, self.out, self.bpf, self.grace = (
            netns, interface, Path(out), bpf, grace)
        self.partial = self.out.with_name(f".{self.out.name}.partial")
        self.summary = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 10.0) -> Capture:
        if shutil.which("tcpdump") is None:
            raise ToolMissing("tcpdump", "tcpdump")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            tcpdump_argv(self.netns, self.interface, self.partial, self.bpf),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self._proc.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stderr], [], [], 0.2)
            if ready:
                line = self._proc.stderr.readline()
                seen.append(line.strip())
                if "listening on" in line:
                    return self
            if self._proc.poll() is not None:
                break
        self._abort()
        raise CaptureError(f"tcpdump on {self.interface} did not start: "
                           + " | ".join(s for s in seen if s)[-300:])

    @property
    def pid(self) -> int | None:
        """The tcpdump process (``ip netns exec`` execs it), while it runs."""
        return self._proc.pid if self._proc is not None else None

    def _abort(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    def stop(self) -> Path:
        """Grace period, SIGINT (tcpdump flushes), then the rename; returns ``out``."""
        proc, self._proc = self._proc, None
        if proc is None:
            raise CaptureError("capture was not started")
        time.sleep(self.grace)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        self.summary = " ".join(line for line in err.splitlines() if "packets" in line)
        if not self.partial.exists():
            raise CaptureError(f"tcpdump wrote no capture file: {err.strip()[-300:]}")
        os.replace(self.partial, self.out)
        return self.out

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.stop()
            return
        # On failure the packets so far are evidence: keep them, without the grace wait.
        self.grace = 0.0
        try:
            self.stop()
        except CaptureError:
            self._abort()
