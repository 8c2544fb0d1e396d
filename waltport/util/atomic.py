"""Atomic outputs: a reader sees the old file/dir or the complete new one, never a half."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from waltport.errors import OutputError


def write_bytes(path: str | Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same dir and rename."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as err:
        raise OutputError(f"cannot write {p}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise OutputError(f"cannot write {p}: {err.strerror or err}") from err
        raise


def write_text(path: str | Path, text: str, mode: int = 0o644) -> None:
    write_bytes(path, text.encode("utf-8"), mode)


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling dir; on success it replaces ``final`` as a whole.

    On any exception the staging dir is removed and ``final`` is untouched, so
    no half-written output directory is ever left behind.  ``final`` is
    resolved first (``.`` is the current directory, not a name), must not be
    a file, and its parent must be writable: else :class:`OutputError`.
    """
    dest = Path(final).expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"{final}: {dest} exists and is not a directory")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial",
                                      dir=dest.parent))
        stage.chmod(0o755)
    except OSError as err:
        raise OutputError(f"cannot write {dest}: {err.strerror or err}") from err
    old = None
    try:
        yield stage
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / "d")
        try:
            os.replace(stage, dest)
        except BaseException:
            if old is not None:
                os.replace(old / "d", dest)
            raise
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces ``path``.

    For writers that need a file name (tarfile, subprocesses); on any exception
    the temporary file is removed and ``path`` is untouched.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
