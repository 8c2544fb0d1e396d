"""Child processes that never outlive their parent, however the parent dies.

Two means, for two shapes of child:

* a *lifeline* pipe: the parent keeps the write end, the child watches the
  read end and stops on end-of-file, which the kernel delivers when the
  parent process is gone (SIGKILL, a crash, a closed terminal).  It works
  through ``ip netns exec`` and whichever thread of the parent started the
  child (the bench server).
* ``PR_SET_PDEATHSIG``: the kernel signals the child when the thread that
  forked it ends; for children forked by a process's main thread (the TFTP
  workers of the bench server, ``mmdebstrap`` through :func:`run_to_the_end`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, *, parent: int) -> None:
    """Edge: have the kernel send ``sig`` to this process when its parent dies.

    ``parent``: the pid the caller expects as parent; if it is already gone
    (it died before the request was made), ``sig`` is sent at once.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def lifeline() -> tuple[int, int]:
    """A (read end, write end) pair: give the read end to the child (``pass_fds``) and
    close it here; keep the write end open for as long as the child may live."""
    return os.pipe()


def watch_lifeline(fd: int, on_parent_gone: threading.Event) -> threading.Thread:
    """Edge: set ``on_parent_gone`` when the lifeline ``fd`` reaches end-of-file."""

    def watch() -> None:
        try:
            while os.read(fd, 64):
                pass
        finally:
            os.close(fd)
            on_parent_gone.set()

    t = threading.Thread(target=watch, name="lifeline", daemon=True)
    t.start()
    return t


def run_to_the_end(argv: list[str], *, env: dict[str, str] | None = None,
                   timeout: float | None = None,
                   stop_wait: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Edge: run a child that must clean up after itself (``mmdebstrap``: mounts, temp dirs).

    It gets SIGTERM, never SIGKILL first, whatever ends the wait here: the
    timeout, Ctrl-C, an exception, or this process killed outright (then by
    the kernel, ``PR_SET_PDEATHSIG``).  Here the child is given ``stop_wait``
    seconds to finish its cleanup before SIGKILL; the exception is re-raised
    (``subprocess.TimeoutExpired`` for the timeout).
    """
    # util-linux's setpriv sets the parent-death signal, then execs the child
    # (no preexec_fn: unsafe in a process with threads).
    proc = subprocess.Popen(["setpriv", "--pdeathsig", "TERM", "--", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=stop_wait)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
