"""Open an image source as a read-only :class:`RootView`, never running anything.

Sources, tried in order (a registry of sniffers, not an if-chain): a rootfs
directory, a docker-archive, an oci-archive, a rootfs tarball (plain, gzip or
xz).  An image in podman storage is saved to a docker-archive through
podman-py (see :mod:`waltport.image.podman`) and read the same way, so every
source goes through one reader.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waltport.image.view import (
    DIR,
    FILE,
    HARDLINK,
    OTHER,
    SYMLINK,
    Entry,
    ImageSourceError,
    RootView,
    norm,
    read_blob,
)
from waltport.util.safetree import UnsafeMember, member_parts

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _tar_kind(m: tarfile.TarInfo) -> str:
    if m.isreg():
        return FILE
    if m.isdir():
        return DIR
    if m.issym():
        return SYMLINK
    if m.islnk():
        return HARDLINK
    return OTHER


def _decompressor(head: bytes, label: str) -> Any:
    if head.startswith(GZIP_MAGIC):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if head.startswith(XZ_MAGIC):
        return lzma.LZMADecompressor()
    if head.startswith(ZSTD_MAGIC):
        raise ImageSourceError(f"{label}: zstd-compressed layer: save the image with "
                               "gzip or no compression")
    return None


def _plain_tar(path: Path, offset: int, size: int, tmp: Path, label: str) -> tuple[Path, int]:
    """A (file, offset) where an uncompressed tar starts; decompress into ``tmp`` if needed.

    Only ``size`` bytes from ``offset`` belong to this tar (a layer inside an
    archive is followed by other members).
    """
    with open(path, "rb") as f:
        f.seek(offset)
        head = f.read(6)
    dec = _decompressor(head, label)
    if dec is None:
        return path, offset
    out = Path(tempfile.mkstemp(dir=tmp, suffix=".tar")[1])
    try:
        with open(path, "rb") as raw, open(out, "wb") as dst:
            raw.seek(offset)
            left = size
            while left > 0 and not dec.eof:
                chunk = raw.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
                dst.write(dec.decompress(chunk))
        if not dec.eof:
            raise ImageSourceError(f"{label}: compressed data is truncated")
    except (OSError, zlib.error, lzma.LZMAError) as err:
        raise ImageSourceError(f"{label}: cannot decompress: {err}") from err
    return out, 0


def refused_member(m: tarfile.TarInfo) -> str | None:
    """Pure: why a member is not indexed (None when it is fine).

    An absolute or ``..`` name, or a hard link whose target is one, would be
    silently renamed by normalisation: written elsewhere than the archive
    says, or (extracted naively) outside the destination.
    """
    try:
        member_parts(m.name)
        if m.islnk():
            member_parts(m.linkname)
    except UnsafeMember as err:
        what = f"hard link to {m.linkname!r}" if m.islnk() and err.name == m.linkname else ""
        return f"member {m.name!r}: {what + ': ' if what else ''}{err.reason}: refused"
    return None


def apply_tar(entries: dict[str, Entry], path: Path, offset: int, label: str,
              *, layered: bool, findings: list[str] | None = None) -> None:
    """Add the members of the tar at ``path``/``offset`` to ``entries``.

    With ``layered`` OCI whiteouts apply: ``.wh.NAME`` deletes NAME from the
    layers below, ``.wh..wh..opq`` empties its directory.  Refused members
    (:func:`refused_member`) are left out and named in ``findings``.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            with tarfile.open(fileobj=f, mode="r:") as tar:
                for m in tar:
                    if m.name not in (".", "./") and (why := refused_member(m)):
                        if findings is not None:
                            findings.append(why)
                        continue
                    p = norm(m.name)
                    base = os.path.basename(p)
                    if layered and base == OPAQUE:
                        parent = os.path.dirname(p)
                        for k in [k for k in entries if k.startswith(parent + "/")]:
                            del entries[k]
                        continue
                    if layered and base.startswith(WHITEOUT):
                        gone = norm(os.path.join(os.path.dirname(p), base[len(WHITEOUT):]))
                        for k in [k for k in entries if k == gone or k.startswith(gone + "/")]:
                            del entries[k]
                        continue
                    kind = _tar_kind(m)
                    if m.issparse():
                        # Its bytes are not one run in the archive: never read as one.
                        kind = OTHER
                        if findings is not None:
                            findings.append(f"member {m.name!r}: sparse file ({m.size} "
                                            "bytes claimed): not read")
                    target = m.linkname if kind == SYMLINK else (
                        norm(m.linkname) if kind == HARDLINK else "")
                    blob = (str(path), m.offset_data) if kind == FILE else None
                    if kind != DIR and p in entries and entries[p].kind == DIR:
                        for k in [k for k in entries if k.startswith(p + "/")]:
                            del entries[k]
                    entries[p] = Entry(p, kind, m.mode, m.size if kind == FILE else 0,
                                       target, blob, m.uid, m.gid)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ImageSourceError(f"{label}: not a readable tar archive: {err}") from err
    entries.setdefault("/", Entry("/", DIR, 0o755))


def _index_dir(root: Path) -> dict[str, Entry]:
    entries: dict[str, Entry] = {"/": Entry("/", DIR, 0o755)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            host = Path(dirpath) / name
            st = host.lstat()
            p = norm(str(host.relative_to(root)))
            mode = stat.S_IMODE(st.st_mode)
            uid, gid = st.st_uid, st.st_gid
            if stat.S_ISLNK(st.st_mode):
                entries[p] = Entry(p, SYMLINK, mode, 0, os.readlink(host), uid=uid, gid=gid)
            elif stat.S_ISDIR(st.st_mode):
                entries[p] = Entry(p, DIR, mode, uid=uid, gid=gid)
            elif stat.S_ISREG(st.st_mode):
                entries[p] = Entry(p, FILE, mode, st.st_size, "", (str(host), 0), uid, gid)
            else:
                entries[p] = Entry(p, OTHER, mode, uid=uid, gid=gid)
    return entries


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int


def _members(path: Path) -> dict[str, _Member]:
    try:
        with tarfile.open(path, "r:") as tar:
            return {norm(m.name).lstrip("/"): _Member(m.offset_data, m.size)
                    for m in tar if m.isreg()}
    except (tarfile.TarError, OSError) as err:
        raise ImageSourceError(f"{path}: not a readable tar archive: {err}") from err


def _json_member(path: Path, members: dict[str, _Member], name: str) -> Any:
    m = members.get(name)
    if m is None:
        raise ImageSourceError(f"{path}: archive has no {name}")
    with open(path, "rb") as f:
        f.seek(m.offset)
        raw = f.read(m.size)
    try:
        return json.loads(raw)
    except ValueError as err:
        raise ImageSourceError(f"{path}: {name} is not valid JSON: {err}") from err


def _image_from_layers(path: Path, kind: str, config: dict[str, Any], layers: list[str],
                       members: dict[str, _Member]) -> RootView:
    tmp = Path(tempfile.mkdtemp(prefix="waltport-layers-"))
    entries: dict[str, Entry] = {}
    findings: list[str] = []
    try:
        for layer in layers:
            m = members.get(layer.lstrip("/"))
            if m is None:
                raise ImageSourceError(f"{path}: layer {layer} listed but missing")
            src, off = _plain_tar(path, m.offset, m.size, tmp, f"{path}: layer {layer}")
            apply_tar(entries, src, off, f"{path}: layer {layer}", layered=True,
                      findings=findings)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    labels = (config.get("config") or {}).get("Labels") or {}
    return RootView(str(path), kind, entries, dict(labels), config.get("architecture"),
                    read_blob, lambda: shutil.rmtree(tmp, ignore_errors=True), findings)


def open_docker_archive(path: Path) -> RootView:
    """A ``podman save --format docker-archive`` tarball (manifest.json + layers)."""
    members = _members(path)
    manifest = _json_member(path, members, "manifest.json")
    if not isinstance(manifest, list) or not manifest:
        raise ImageSourceError(f"{path}: manifest.json lists no image")
    config = _json_member(path, members, str(manifest[0].get("Config", "")))
    return _image_from_layers(path, "docker-archive", config, list(manifest[0]["Layers"]),
                              members)


def open_oci_archive(path: Path) -> RootView:
    """An oci-archive tarball (oci-layout, index.json, blobs/sha256/...)."""
    members = _members(path)
    index = _json_member(path, members, "index.json")

    def blob(digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        return f"blobs/{algo}/{hexd}"

    try:
        manifest = _json_member(path, members, blob(index["manifests"][0]["digest"]))
        config = _json_member(path, members, blob(manifest["config"]["digest"]))
        layers = [blob(layer["digest"]) for layer in manifest["layers"]]
    except (KeyError, IndexError, TypeError) as err:
        raise ImageSourceError(f"{path}: malformed OCI index or manifest: {err!r}") from err
    return _image_from_layers(path, "oci-archive", config, layers, members)


def open_rootfs_tarball(path: Path) -> RootView:
    """A flat rootfs tarball (plain, gzip or xz); it carries no labels."""
    tmp = Path(tempfile.mkdtemp(prefix="waltport-rootfs-"))
    entries: dict[str, Entry] = {}
    findings: list[str] = []
    try:
        src, off = _plain_tar(path, 0, path.stat().st_size, tmp, str(path))
        apply_tar(entries, src, off, str(path), layered=False, findings=findings)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RootView(str(path), "rootfs-tarball", entries, {}, None, read_blob,
                    lambda: shutil.rmtree(tmp, ignore_errors=True), findings)


def open_rootfs_dir(path: Path) -> RootView:
    """A rootfs directory on the host (read only; links are never followed on the host)."""
    return RootView(str(path), "rootfs-dir", _index_dir(path), {}, None, read_blob)


def _tar_names(path: Path) -> set[str]:
    try:
        with tarfile.open(path, "r:") as tar:
            return {norm(n).lstrip("/") for n in tar.getnames()[:64]}
    except (tarfile.TarError, OSError):
        return set()


def sniff(path: Path) -> str | None:
    """The kind of a host path source, or None when it is none of them."""
    if path.is_dir():
        return "rootfs-dir"
    if not path.is_file():
        return None
    names = _tar_names(path)
    if "manifest.json" in names:
        return "docker-archive"
    if "oci-layout" in names or "index.json" in names:
        return "oci-archive"
    return "rootfs-tarball"


OPENERS: dict[str, Callable[[Path], RootView]] = {
    "rootfs-dir": open_rootfs_dir,
    "docker-archive": open_docker_archive,
    "oci-archive": open_oci_archive,
    "rootfs-tarball": open_rootfs_tarball,
}


def open_path(path: str | Path) -> RootView:
    """Open a host path source (directory or archive); error if it is none of them."""
    p = Path(path)
    try:
        kind = sniff(p)
        if kind is None:
            raise ImageSourceError(f"{p}: no such file or directory")
        return OPENERS[kind](p)
    except OSError as err:   # e.g. PermissionError on the archive or a directory in it
        raise ImageSourceError(f"{p}: cannot read: {err.strerror or err}") from err


def looks_like_path(source: str) -> bool:
    """True when ``source`` names a host path rather than a podman image reference."""
    return os.path.exists(source) or source.startswith(("/", "./", "../")) or \
        source.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz"))
