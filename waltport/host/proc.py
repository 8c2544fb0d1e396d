"""Child processes that never outlive their parent, however the parent dies.

Two means, for two shapes of child:

* a *lifeline* pipe: the parent keeps the write end, the child watches the
  read end and stops on end-of-file, which the kernel delivers when the
  parent process is gone (SIGKILL, a crash, a closed terminal).  It works
  through ``ip netns exec`` and whichever thread of the parent started the
  child (the bench server).
* ``PR_SET_PDEATHSIG``: the kernel signals the child when the thread that
  forked it ends; for children forked by a process's main thread (the TFTP
  workers of the bench server).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
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
