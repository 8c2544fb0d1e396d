"""A view written out: a deterministic rootfs tarball, or a directory (close the loop).

Same view, same bytes: members sorted, owner root, mtime fixed
(``SOURCE_DATE_EPOCH``).  Extraction writes regular files, directories and
symlinks as they are in the image (links are never followed on the host);
device nodes are skipped (the lab's TFTP root needs none).
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from waltport.image.podman import open_source
from waltport.image.sources import open_rootfs_dir
from waltport.image.view import DIR, FILE, HARDLINK, SYMLINK, Entry, RootView
from waltport.util.atomic import staged_dir


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


def extract_view(view: RootView, out_dir: str | Path) -> Path:
    """Write the files of ``view`` into ``out_dir`` (replaced as a whole)."""
    with staged_dir(out_dir) as root:
        for e in view.walk("/"):
            if e.path == "/":
                continue
            host = root / e.path.lstrip("/")
            if e.kind == DIR:
                host.mkdir(parents=True, exist_ok=True)
                host.chmod(e.mode & 0o7777 or 0o755)
            elif e.kind == SYMLINK:
                host.parent.mkdir(parents=True, exist_ok=True)
                host.symlink_to(e.target)
            elif e.kind == FILE and view.reader is not None:
                host.parent.mkdir(parents=True, exist_ok=True)
                host.write_bytes(view.reader(e, None) if e.blob else b"")
                host.chmod(e.mode & 0o7777)
        for e in view.walk("/"):
            if e.kind == HARDLINK:
                src = root / e.target.lstrip("/")
                dst = root / e.path.lstrip("/")
                if src.is_file() and not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.link(src, dst)
    return Path(out_dir)


def export_rootfs(image: str | Path, out_dir: str | Path) -> Path:
    """The rootfs of ``image`` (podman storage name/id, or an archive) as a directory.

    Close the loop: the lab serves ``out_dir/boot/<model>/`` as its TFTP root,
    so what boots is exactly what was imported.
    """
    with open_source(str(image)) as view:
        return extract_view(view, out_dir)
