"""Write a tree under one root directory without ever leaving it.

Every write goes through directory file descriptors opened with
``O_NOFOLLOW``: a member's parent is walked component by component from the
root, so a symlink planted by an earlier member (``escape -> /etc``) stops the
walk instead of leading the write onto the host.  Names are checked before
anything is opened: absolute names, ``..`` and empty components are refused.
Each refusal is an :class:`UnsafeMember` naming the member and why, which the
caller reports as a finding and goes on with the next member.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from waltport.errors import WaltportError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeMember(WaltportError):
    """One member that cannot be written safely: ``name`` and ``reason``."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


def member_parts(name: str) -> list[str]:
    """Pure: the components of a relative member name, or UnsafeMember.

    ``./a//b/`` gives ``[a, b]``; ``/a``, ``a/../b`` and ``..`` are refused
    (they would name something else once written).
    """
    if name.startswith("/"):
        raise UnsafeMember(name, "absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeMember(name, "'..' in the name")
    if not parts:
        raise UnsafeMember(name, "empty name")
    return parts


class SafeTree:
    """A directory that members are written into; ``close`` releases its descriptor."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._fd = os.open(self.root, _DIR_FLAGS)

    def __enter__(self) -> SafeTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @contextlib.contextmanager
    def _parent(self, name: str, *, create: bool) -> Iterator[tuple[int, str]]:
        """(descriptor of the member's parent, last component); parents made if ``create``."""
        parts = member_parts(name)
        fd = os.dup(self._fd)
        try:
            for i, comp in enumerate(parts[:-1]):
                try:
                    nxt = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise UnsafeMember(name, f"{'/'.join(parts[:i + 1])} does not "
                                                 "exist") from None
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    nxt = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    if err.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafeMember(name, f"{'/'.join(parts[:i + 1])} is a link or "
                                                 "not a directory: not followed") from err
                    raise
                os.close(fd)
                fd = nxt
            yield fd, parts[-1]
        finally:
            os.close(fd)

    def mkdir(self, name: str, mode: int = 0o755) -> None:
        """A directory (an existing real directory is kept; its mode is set)."""
        with self._parent(name, create=True) as (fd, last):
            with contextlib.suppress(FileExistsError):
                os.mkdir(last, 0o700, dir_fd=fd)
            st = os.stat(last, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeMember(name, "exists and is not a directory")
            os.chmod(last, mode & 0o7777, dir_fd=fd, follow_symlinks=False)

    def write_file(self, name: str, chunks: Iterable[bytes], mode: int = 0o644) -> None:
        """A new regular file from ``chunks`` (never through or over an existing entry)."""
        with self._parent(name, create=True) as (fd, last):
            try:
                out = os.open(last, _NEW_FILE, 0o600, dir_fd=fd)
            except FileExistsError as err:
                raise UnsafeMember(name, "already exists: not overwritten") from err
            with os.fdopen(out, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                os.fchmod(f.fileno(), mode & 0o7777)

    def symlink(self, name: str, target: str) -> None:
        """A symlink as stored (its target is never followed by this class)."""
        with self._parent(name, create=True) as (fd, last):
            try:
                os.symlink(target, last, dir_fd=fd)
            except FileExistsError as err:
                raise UnsafeMember(name, "already exists: not overwritten") from err

    def chown(self, name: str, uid: int, gid: int, mode: int | None = None) -> None:
        """Set the owner (and then ``mode``, since chown clears set-ID bits) of a member."""
        with self._parent(name, create=False) as (fd, last):
            os.chown(last, uid, gid, dir_fd=fd, follow_symlinks=False)
            if mode is not None:
                os.chmod(last, mode & 0o7777, dir_fd=fd, follow_symlinks=False)

    def hardlink(self, name: str, target: str) -> None:
        """A hard link to the regular file ``target`` already written inside the tree."""
        with self._parent(target, create=False) as (sfd, slast):
            try:
                st = os.stat(slast, dir_fd=sfd, follow_symlinks=False)
            except FileNotFoundError as err:
                raise UnsafeMember(name, f"hard link to {target}, which does not exist") from err
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeMember(name, f"hard link to {target}, not a regular file")
            with self._parent(name, create=True) as (dfd, dlast):
                try:
                    os.link(slast, dlast, src_dir_fd=sfd, dst_dir_fd=dfd,
                            follow_symlinks=False)
                except FileExistsError as err:
                    raise UnsafeMember(name, "already exists: not overwritten") from err
