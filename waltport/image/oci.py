"""Reproducible OCI image archives: same layers, labels and time, same image ID.

podman stamps the wall clock into the config of every image it builds or
imports, and the image ID is the sha256 of that config: two builds of the same
inputs get two IDs.  waltport writes the OCI layout itself instead: layers are
deterministic tarballs, the config carries ``SOURCE_DATE_EPOCH`` as its time and
is serialised canonically (sorted keys, no spaces), and ``podman load`` keeps
the config's digest as the image ID, so a maintainer can rebuild an image and
compare IDs with the report's.

The core (config, manifest, index, image ID) is pure; hashing a layer file and
writing the archive are the edges.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from waltport.errors import WaltportError
from waltport.util.atomic import atomic_file
from waltport.util.hashing import sha256_file

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


class OciError(WaltportError):
    """An OCI archive could not be written (names the layer or file and why)."""

    exit_code = 2


@dataclass(frozen=True)
class Layer:
    """An uncompressed layer tarball: its digest is also its diff_id."""

    path: Path
    digest: str                  # "sha256:<hex>"
    size: int
    created_by: str              # history entry: where the layer came from


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def iso_time(epoch: int) -> str:
    """RFC 3339 UTC time of ``epoch`` (the form OCI configs carry). *Pure.*"""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_config(layers: list[Layer], *, arch: str, labels: dict[str, str], created: int,
                 variant: str | None = None, cmd: tuple[str, ...] = ("/sbin/init",)) -> bytes:
    """The OCI image config, canonical bytes. *Pure.*

    ``arch`` is the OCI name (``arm64``, ``arm``, ``amd64``, ``386``), ``variant``
    the ARM ABI level (``v5`` for armel, ``v7`` for armhf).
    """
    when = iso_time(created)
    cfg: dict[str, object] = {
        "architecture": arch, "os": "linux", "created": when,
        "config": {"Labels": dict(sorted(labels.items())), "Cmd": list(cmd),
                   "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "history": [{"created": when, "created_by": layer.created_by} for layer in layers],
    }
    if variant:
        cfg["variant"] = variant
    return _canonical(cfg)


def image_manifest(config: bytes, layers: list[Layer]) -> bytes:
    """The OCI manifest of ``config`` and ``layers``, canonical bytes. *Pure.*"""
    return _canonical({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": _sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.size}
                   for layer in layers],
    })


def image_index(manifest: bytes, ref: str) -> bytes:
    """The archive's ``index.json`` naming ``manifest`` as ``ref``. *Pure.*"""
    return _canonical({
        "schemaVersion": 2, "mediaType": INDEX_TYPE,
        "manifests": [{"mediaType": MANIFEST_TYPE, "digest": _sha256(manifest),
                       "size": len(manifest), "annotations": {REF_ANNOTATION: ref}}],
    })


def image_id(config: bytes) -> str:
    """The image ID podman gives the image of ``config`` (hex, no prefix). *Pure.*"""
    return hashlib.sha256(config).hexdigest()


def layer_of(path: Path, created_by: str) -> Layer:
    """Hash a layer tarball (streamed). *Edge.*"""
    try:
        return Layer(path, "sha256:" + sha256_file(path), path.stat().st_size, created_by)
    except OSError as err:
        raise OciError(f"layer {path.name}: cannot read: {err.strerror}") from err


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    tar.addfile(info, io.BytesIO(data))


def write_oci_archive(dest: Path, layers: list[Layer], config: bytes, ref: str, *,
                      mtime: int) -> Path:
    """Write an ``oci-archive`` (what ``podman load`` reads), same inputs same bytes. *Edge.*"""
    manifest = image_manifest(config, layers)
    blobs: list[tuple[str, bytes | Path]] = [(_sha256(config), config),
                                             (_sha256(manifest), manifest)]
    blobs += [(layer.digest, layer.path) for layer in layers]
    with atomic_file(dest) as tmp, tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", _canonical({"imageLayoutVersion": "1.0.0"}), mtime)
        _add_bytes(tar, "index.json", image_index(manifest, ref), mtime)
        seen: set[str] = set()
        for digest, blob in sorted(blobs, key=lambda b: b[0]):
            if digest in seen:
                continue
            seen.add(digest)
            name = "blobs/sha256/" + digest.removeprefix("sha256:")
            if isinstance(blob, bytes):
                _add_bytes(tar, name, blob, mtime)
                continue
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = blob.stat().st_size, mtime, 0o644
            with open(blob, "rb") as f:
                tar.addfile(info, f)
    return dest


def canonical_archive(src: Path, dest: Path, *, mtime: int) -> Path:
    """Rewrite a tar archive's headers (names sorted, ``mtime``, root-owned), content
    untouched: ``podman save`` stamps the wall clock on an oci-archive's entries. *Edge.*

    Only directories and regular files are expected (an image archive's layout);
    anything else is refused rather than copied.
    """
    try:
        with tarfile.open(src) as tin, atomic_file(dest) as tmp, \
                tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tout:
            for m in sorted(tin.getmembers(), key=lambda m: m.name):
                if not (m.isfile() or m.isdir()):
                    raise OciError(f"{src.name}: unexpected entry {m.name!r} in an image archive")
                info = tarfile.TarInfo(m.name)
                info.type, info.size, info.mode, info.mtime = m.type, m.size, m.mode, mtime
                tout.addfile(info, tin.extractfile(m) if m.isfile() else None)
    except (OSError, tarfile.TarError) as err:
        raise OciError(f"{src.name}: cannot rewrite the archive: {err}") from err
    return dest
