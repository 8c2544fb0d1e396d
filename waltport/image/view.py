"""A read-only view of an image's root filesystem, whatever it came from.

The view is an index of entries (path -> kind, mode, size, link target, where
the bytes are) plus the image metadata (labels, arch).  Paths inside the image
are resolved with *chroot* semantics (``/`` is the image root, ``..`` stops
there) or with *TFTP* semantics (what a WalT server sees when tftpd-hpa
follows a link under ``/boot/<model>``: absolute targets and climbs above the
root leave the image).  Nothing in an image is ever executed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from waltport.errors import WaltportError

FILE, DIR, SYMLINK, HARDLINK, OTHER = "file", "dir", "symlink", "hardlink", "other"
MAX_LINKS = 40
# The most a check reads of one file into memory: what is bigger (a kernel) is
# streamed (:meth:`RootView.chunks`); a member claiming more (a sparse one says
# 100 GiB) is an error naming it, never a MemoryError.
MAX_READ = 256 << 20


class ImageSourceError(WaltportError):
    """An image source could not be opened or read (names the source and why)."""

    exit_code = 2


@dataclass(frozen=True)
class Entry:
    """One filesystem object of the image."""

    path: str                     # normalised absolute path, "/" for the root
    kind: str                     # file | dir | symlink | hardlink | other
    mode: int = 0o644
    size: int = 0
    target: str = ""              # symlink target (as stored) or hardlink path
    blob: tuple[str, int] | None = None   # (host file, byte offset) of the data
    uid: int = 0                  # owner in the image (a Debian image has service users)
    gid: int = 0


@dataclass(frozen=True)
class Resolution:
    """Where a path leads: the final entry, or why it does not resolve."""

    path: str
    entry: Entry | None
    reason: str = ""              # empty when resolved
    hops: tuple[str, ...] = ()    # symlinks followed, as "link -> target"

    @property
    def ok(self) -> bool:
        return self.entry is not None


def norm(path: str) -> str:
    """Normalise an in-image path to ``/a/b`` (no trailing slash, no ``.``)."""
    p = posixpath.normpath("/" + path.lstrip("/"))
    return "/" if p in ("/", "//") else p.rstrip("/")


@dataclass
class RootView:
    """Index of an image's files plus its labels; read with :meth:`read`."""

    source: str
    kind: str
    entries: dict[str, Entry] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    arch: str | None = None
    reader: Callable[[Entry, int | None], bytes] | None = None
    cleanup: Callable[[], None] | None = None
    # Members refused while indexing (absolute or '..' names, hard links out of
    # the tree): each one a sentence naming the member and why.
    findings: list[str] = field(default_factory=list)

    def __enter__(self) -> RootView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release temporary files behind the view (decompressed layers)."""
        if self.cleanup is not None:
            self.cleanup()
            self.cleanup = None

    def get(self, path: str) -> Entry | None:
        """The entry at ``path`` itself (links not followed)."""
        return self.entries.get(norm(path))

    def children(self, path: str) -> list[str]:
        """Names directly under directory ``path`` (sorted)."""
        base = norm(path)
        prefix = "/" if base == "/" else base + "/"
        return sorted({p[len(prefix):].split("/", 1)[0] for p in self.entries
                       if p.startswith(prefix) and p != prefix})

    def walk(self, top: str = "/") -> Iterator[Entry]:
        """Every entry at or under ``top``, in path order."""
        base = norm(top)
        prefix = "/" if base == "/" else base + "/"
        for p in sorted(self.entries):
            if p == base or p.startswith(prefix):
                yield self.entries[p]

    def resolve(self, path: str, *, tftp: bool = False) -> Resolution:
        """Follow symlinks in every component of ``path``.

        With ``tftp`` an absolute link target or a ``..`` above ``/`` is an
        escape (the server host would resolve it outside the image).
        """
        parts = [c for c in norm(path).split("/") if c]
        cur = "/"
        hops: list[str] = []
        budget = MAX_LINKS
        while parts:
            comp = parts.pop(0)
            if comp == "..":
                if cur == "/" and tftp:
                    return Resolution(path, None, "escapes the image root with '..'", tuple(hops))
                cur = posixpath.dirname(cur) or "/"
                continue
            nxt = norm(posixpath.join(cur, comp))
            ent = self.entries.get(nxt)
            if ent is None:
                return Resolution(path, None, f"{nxt} does not exist", tuple(hops))
            if ent.kind == SYMLINK:
                budget -= 1
                if budget < 0:
                    return Resolution(path, None, "too many levels of symbolic links",
                                      tuple(hops))
                hops.append(f"{nxt} -> {ent.target}")
                if ent.target.startswith("/"):
                    if tftp:
                        return Resolution(path, None, f"{nxt} -> {ent.target} is absolute: "
                                          "the TFTP server would resolve it on its own host",
                                          tuple(hops))
                    cur = "/"
                parts = [c for c in ent.target.split("/") if c and c != "."] + parts
                continue
            if parts and ent.kind != DIR:
                return Resolution(path, None, f"{nxt} is not a directory", tuple(hops))
            cur = nxt
        ent = self.entries.get(cur)
        if ent is not None and ent.kind == HARDLINK:
            ent = self.entries.get(norm(ent.target), ent)
        return Resolution(path, ent, "" if ent else f"{cur} does not exist", tuple(hops))

    def exists(self, path: str) -> bool:
        return self.resolve(path).ok

    def is_file(self, path: str) -> bool:
        r = self.resolve(path)
        return r.entry is not None and r.entry.kind == FILE

    def read(self, path: str, limit: int | None = None) -> bytes:
        """The bytes of the regular file at ``path`` (links followed), at most ``limit``."""
        r = self.resolve(path)
        if r.entry is None:
            raise ImageSourceError(f"{self.source}: {path}: {r.reason}")
        if r.entry.kind != FILE:
            raise ImageSourceError(f"{self.source}: {path} is a {r.entry.kind}, not a file")
        if self.reader is None or r.entry.blob is None:
            return b""
        return self.reader(r.entry, limit)

    def chunks(self, path: str) -> Iterator[bytes]:
        """The bytes of the regular file at ``path`` in chunks (links followed)."""
        r = self.resolve(path)
        if r.entry is None:
            raise ImageSourceError(f"{self.source}: {path}: {r.reason}")
        if r.entry.kind != FILE:
            raise ImageSourceError(f"{self.source}: {path} is a {r.entry.kind}, not a file")
        return stream_blob(r.entry)


def stream_blob(entry: Entry, chunk: int = 1 << 20) -> Iterator[bytes]:
    """An entry's bytes in chunks of at most ``chunk`` (a big file never sits in memory)."""
    if entry.blob is None:
        return
    name, offset = entry.blob
    left = entry.size
    try:
        with open(name, "rb") as f:
            f.seek(offset)
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    raise ImageSourceError(f"{entry.path}: {name} ends {left} bytes early")
                left -= len(data)
                yield data
    except OSError as err:
        raise ImageSourceError(f"cannot read {entry.path} from {name}: {err}") from err


def read_blob(entry: Entry, limit: int | None) -> bytes:
    """Read an entry's bytes from the host file its ``blob`` names."""
    assert entry.blob is not None
    name, offset = entry.blob
    want = entry.size if limit is None else min(limit, entry.size)
    if want > MAX_READ:
        raise ImageSourceError(f"{entry.path}: {entry.size} bytes, more than the "
                               f"{MAX_READ >> 20} MiB waltport reads of one file")
    try:
        with open(name, "rb") as f:
            f.seek(offset)
            return f.read(want)
    except OSError as err:
        raise ImageSourceError(f"cannot read {entry.path} from {name}: {err}") from err
