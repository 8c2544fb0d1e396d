"""A view written out: a deterministic rootfs tarball, or a directory (close the loop).

Same view, same bytes: members sorted, owner root, mtime fixed
(``SOURCE_DATE_EPOCH``).  Extraction writes regular files, directories and
symlinks as they are in the image (links are never followed on the host, see
:mod:`waltport.util.safetree`); device nodes are refused (the lab's TFTP root
needs none) and named, with every other refused member, in the result.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from waltport.image.podman import open_source
from waltport.image.sources import open_rootfs_dir
from waltport.image.view import (
    DIR,
    FILE,
    HARDLINK,
    SYMLINK,
    Entry,
    ImageSourceError,
    RootView,
    stream_blob,
)
from waltport.util.atomic import staged_dir
from waltport.util.safetree import SafeTree, UnsafeMember


def _info(entry: Entry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo("." + entry.path if entry.path != "/" else ".")
    info.mode, info.mtime, info.uid, info.gid = entry.mode, mtime, 0, 0
    info.uname = info.gname = "root"
    if entry.kind == DIR:
        info.type = tarfile.DIRTYPE
    elif entry.kind == SYMLINK:
        info.type, info.linkname = tarfile.SYMTYPE, entry.target
    elif entry.kind == HARDLINK:
        info.type, info.linkname = tarfile.LNKTYPE, "." + entry.target
    else:
        info.size = entry.size
    return info


def write_rootfs_tar(view: RootView, dest: Path, *, overlay: Path | None = None,
                     mtime: int = 0) -> Path:
    """Write ``view`` (plus the files of the ``overlay`` directory on top) as a tarball."""
    entries = dict(view.entries)
    readers = {p: view for p in entries}
    if overlay is not None and overlay.is_dir():
        extra = open_rootfs_dir(overlay)
        for p, e in extra.entries.items():
            if p != "/" or "/" not in entries:
                entries[p] = e
                readers[p] = extra
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            e = entries[path]
            if e.kind not in (FILE, DIR, SYMLINK, HARDLINK):
                continue
            info = _info(e, mtime)
            data = None
            if e.kind == FILE and e.blob is not None and readers[path].reader is not None:
                data = io.BytesIO(readers[path].reader(e, None))  # type: ignore[misc]
            tar.addfile(info, data)
    return dest


@dataclass(frozen=True)
class Extracted:
    """A view written out: the directory, and every member refused (one sentence each)."""

    root: Path
    findings: tuple[str, ...]


def _write_entry(tree: SafeTree, e: Entry, owners: bool) -> str | None:
    """Write one entry; the reason it was refused, or None."""
    name = e.path.lstrip("/")
    if e.kind == DIR:
        tree.mkdir(name, (e.mode & 0o7777) or 0o755)
    elif e.kind == SYMLINK:
        tree.symlink(name, e.target)
    elif e.kind == FILE:
        # No set-user/group-ID bits unless ``owners`` (below): written by root, an
        # image's setuid file would be a root-owned setuid program of its author.
        tree.write_file(name, stream_blob(e), e.mode & 0o1777)
    elif e.kind == HARDLINK:
        tree.hardlink(name, e.target.lstrip("/"))
        return None
    else:
        return f"{e.path}: device node, FIFO or socket: not created"
    if owners and (e.uid or e.gid or e.mode & 0o6000):
        tree.chown(name, e.uid, e.gid, None if e.kind == SYMLINK else e.mode)
    return None


def _private_parent(out_dir: Path) -> None:
    parent = out_dir.resolve().parent
    if parent.stat().st_mode & 0o077:
        raise ImageSourceError(f"{parent}: an export that keeps owners and set-ID bits must "
                               "sit in a directory only root can enter (mode 0700)")


def extract_view(view: RootView, out_dir: str | Path, *, owners: bool = False) -> Extracted:
    """Write the files of ``view`` into ``out_dir`` (replaced as a whole), never outside it.

    ``owners`` keeps the image's owners and set-ID bits, as a WalT server's
    export of an image does (a Debian image's services run as their own
    users): only into a directory whose parent only root can enter, so no
    other user of this host reaches the image's set-ID programs.

    Every member is written through :class:`SafeTree`: a member whose parent
    is a link (``escape -> /etc`` then ``escape/passwd``), a hard link to
    something that is not a file of the tree, a device node: each is refused
    and named in ``findings`` (with those the view refused when indexing).
    Hard links come last, once their targets exist.
    """
    findings = list(view.findings)
    if owners:
        _private_parent(Path(out_dir))
    with staged_dir(out_dir) as root, SafeTree(root) as tree:
        entries = [e for e in view.walk("/") if e.path != "/"]
        for e in sorted(entries, key=lambda e: e.kind == HARDLINK):
            try:
                why = _write_entry(tree, e, owners)
            except UnsafeMember as err:
                why = f"{e.path}: {err.reason}: not written"
            if why:
                findings.append(why)
    return Extracted(Path(out_dir), tuple(findings))


def export_rootfs(image: str | Path, out_dir: str | Path, *, owners: bool = False) -> Extracted:
    """The rootfs of ``image`` (podman storage name/id, or an archive) as a directory.

    Close the loop: the lab serves ``out_dir/boot/<model>/`` as its TFTP root,
    so what boots is exactly what was imported.
    """
    with open_source(str(image)) as view:
        return extract_view(view, out_dir, owners=owners)
