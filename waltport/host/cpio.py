"""A pure ``newc`` cpio writer (the format Linux unpacks as an initramfs).

Same entries in, same bytes out: entries are sorted by path, inode numbers
are assigned in that order, owner is root and every mtime is one value
(``SOURCE_DATE_EPOCH`` by default).  The host has no ``cpio`` program.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass

from waltport.errors import WaltportError
from waltport.util.epoch import source_date_epoch

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


class CpioError(WaltportError):
    """An archive entry is invalid (path, mode or size)."""


@dataclass(frozen=True)
class Entry:
    """One archive member.  ``path`` is relative (``bin/busybox``), no leading ``/``."""

    path: str
    mode: int                    # full st_mode: type bits | permissions
    data: bytes = b""            # file contents, or the target of a symlink
    rdev: tuple[int, int] = (0, 0)

    @staticmethod
    def directory(path: str, perm: int = 0o755) -> Entry:
        return Entry(path, stat.S_IFDIR | perm)

    @staticmethod
    def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
        return Entry(path, stat.S_IFREG | perm, data)

    @staticmethod
    def symlink(path: str, target: str) -> Entry:
        return Entry(path, stat.S_IFLNK | 0o777, target.encode())

    @staticmethod
    def chardev(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
        return Entry(path, stat.S_IFCHR | perm, b"", (major, minor))


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(ino: int, entry: Entry, mtime: int, name: bytes, nlink: int) -> bytes:
    fields = (ino, entry.mode, 0, 0, nlink, mtime, len(entry.data), 0, 0,
              entry.rdev[0], entry.rdev[1], len(name) + 1, 0)
    return MAGIC + b"".join(b"%08X" % f for f in fields)


def _check(entry: Entry) -> None:
    parts = entry.path.split("/")
    if not entry.path or entry.path.startswith("/") or ".." in parts or "" in parts:
        raise CpioError(f"cpio entry {entry.path!r}: give a relative path without '..'")
    kind = stat.S_IFMT(entry.mode)
    if kind not in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK):
        raise CpioError(f"cpio entry {entry.path!r}: unsupported file type {oct(kind)}")
    if kind in (stat.S_IFDIR, stat.S_IFCHR, stat.S_IFBLK) and entry.data:
        raise CpioError(f"cpio entry {entry.path!r}: only files and symlinks have data")


def write_newc(entries: Iterable[Entry], *, mtime: int | None = None) -> bytes:
    """The ``newc`` archive of ``entries`` (sorted by path; duplicates are an error)."""
    when = source_date_epoch() if mtime is None else mtime
    ordered = sorted(entries, key=lambda e: e.path)
    seen: set[str] = set()
    out = bytearray()
    for ino, entry in enumerate(ordered, start=1):
        _check(entry)
        if entry.path in seen:
            raise CpioError(f"cpio entry {entry.path!r} is given twice")
        seen.add(entry.path)
        name = entry.path.encode()
        nlink = 2 if stat.S_ISDIR(entry.mode) else 1
        head = _header(ino, entry, when, name, nlink) + name + b"\0"
        out += head + _pad4(len(head)) + entry.data + _pad4(len(entry.data))
    name = TRAILER.encode()
    head = _header(0, Entry(TRAILER, 0), 0, name, 1) + name + b"\0"
    out += head + _pad4(len(head))
    return bytes(out)


def read_newc(blob: bytes) -> list[Entry]:
    """Parse a ``newc`` archive back into entries (tests, and checking images)."""
    entries: list[Entry] = []
    pos = 0
    while True:
        if blob[pos:pos + 6] != MAGIC:
            raise CpioError(f"cpio: bad magic at offset {pos}")
        fields = [int(blob[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = (fields[1], fields[6], fields[9], fields[10],
                                            fields[11])
        name_start = pos + 110
        name = blob[name_start:name_start + namesize - 1].decode()
        data_start = name_start + namesize + (-(110 + namesize) % 4)
        data = blob[data_start:data_start + size]
        pos = data_start + size + (-size % 4)
        if name == TRAILER:
            return entries
        entries.append(Entry(name, mode, data, (rmaj, rmin)))
