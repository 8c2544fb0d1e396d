"""Children that must clean up after themselves get SIGTERM, however their parent ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from waltport.host.proc import run_to_the_end

# A child with cleanup work: it says it started, and on SIGTERM writes "cleaned".
CHILD = ["sh", "-c", 'trap "echo cleaned > $1.done; exit 0" TERM; echo up > $1.up; '
         "while :; do sleep 0.05; done", "sh"]
PARENT = """
import sys
from waltport.host.proc import run_to_the_end
run_to_the_end(sys.argv[1:], stop_wait=10)
"""


def _wait_for(path: Path, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_the_child_cleans_up_whatever_ends_the_parent(tmp_path: Path, sig: int) -> None:
    marker = tmp_path / "child"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, *CHILD, str(marker)],
                              stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(marker.with_suffix(".up"))
        os.kill(parent.pid, sig)          # the parent only: the child is told by it or the kernel
        parent.wait(timeout=30)
        assert _wait_for(marker.with_suffix(".done")), "the child never got SIGTERM"
        assert marker.with_suffix(".done").read_text() == "cleaned\n"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_timeout_terminates_and_waits_for_the_cleanup(tmp_path: Path) -> None:
    marker = tmp_path / "child"
    with pytest.raises(subprocess.TimeoutExpired):
        run_to_the_end([*CHILD, str(marker)], timeout=1.0, stop_wait=10)
    assert marker.with_suffix(".done").read_text() == "cleaned\n"   # already there: waited


def test_output_and_exit_code() -> None:
    done = run_to_the_end(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
