"""``waltport bundle``: one archive of a run to attach to the WalT issue.

What goes in: the reports, summary.json, junit.xml, run.json, the stage
results and executed notebooks, the bootloader artifacts and their manifest,
console logs, plots, and the captures (above :data:`PCAP_TRIM_ABOVE` trimmed
to their DHCP/TFTP control packets, with a summary of what was dropped).
What stays out: large binaries (kernels, initrds, disk images) and the lab's
working copies of image roots, each listed in ``bundle-manifest.json`` with
its size and sha256 so a maintainer can ask for exactly that file.

Nothing secret and no host path goes in: every file is scanned for private
keys and tokens (the bundle is refused, naming the file), and text files have
their host paths made relative to the run directory.  Same run, same bytes:
entries sorted, timestamps from SOURCE_DATE_EPOCH.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waltport.errors import UsageError, WaltportError
from waltport.evidence.hostpaths import Roots, host_roots, relativize_text
from waltport.pipeline.pcaptrim import trim_file
from waltport.pipeline.report import BUNDLE_NAME
from waltport.util.atomic import write_bytes
from waltport.util.epoch import declared_epoch
from waltport.util.hashing import sha256_file
from waltport.util.outdir import check_out_file

LARGE = 1 << 20                 # a binary file above this is left out (sha256 in the manifest)
TEXT_LIMIT = 4 << 20            # a text file above this too
PCAP_TRIM_ABOVE = 1 << 20       # captures above this are trimmed
ATTACHMENT_LIMIT = 25 * 10**6   # GitHub's limit for a file attached to an issue
MANIFEST = "bundle-manifest.json"
FORMATS = (".zip", ".tar.gz", ".tgz")
# The lab's working state (image roots served over NFS, the bench server's
# registry): the image's content is hashed by the image stage; listed by size only.
WORK_COPIES = frozenset({"image-root", "rootfs", "server-state", "nfs"})
TEXT_SUFFIXES = frozenset({".json", ".ipynb", ".md", ".html", ".xml", ".log", ".txt", ".yaml"})
PCAP_SUFFIXES = frozenset({".pcap", ".pcapng"})
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("a private key", re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("a PuTTY private key", re.compile(rb"PuTTY-User-Key-File-\d")),
    ("a GitHub token", re.compile(rb"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("an AWS access key", re.compile(rb"\bAKIA[0-9A-Z]{16}\b")),
    ("a Slack token", re.compile(rb"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Jupyter token", re.compile(rb"[?&]token=[0-9a-f]{32,}")),
    ("a bearer token", re.compile(rb"(?i)authorization: *bearer +[A-Za-z0-9._~+/=-]{16,}")),
)
KEY_NAME_RE = re.compile(r"^(id_(rsa|dsa|ecdsa|ed25519)(_sk)?|.*\.(pem|key|p12|pfx))$")


class BundleError(WaltportError):
    """The bundle cannot be written (a secret in the run dir, a bad output name...)."""

    exit_code = 2


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    bytes: int
    files: int
    left_out: int
    over_limit: bool


def secret_in(name: str, data: bytes) -> str | None:
    """Pure: what secret ``data`` (a file called ``name``) looks like, or None."""
    if KEY_NAME_RE.match(Path(name).name):
        return "a private key (by its file name)"
    for what, pattern in SECRET_PATTERNS:
        if pattern.search(data):
            return what
    return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _walk(run_dir: Path) -> Iterator[Path]:
    # Never follows a link out of the run dir: links are listed, not read.
    for p in sorted(run_dir.rglob("*")):
        if p.is_file() or p.is_symlink():
            yield p


def _is_bundle(rel: Path) -> bool:
    # Earlier bundles anywhere, and any archive at the top (where --out usually is).
    return rel.name.startswith("waltport-bundle") or \
        (rel.name.endswith(FORMATS) and len(rel.parts) == 1)


def collect(run_dir: Path, roots: Roots) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """Edge: the files to bundle (arcname -> bytes) and the manifest of what was left out."""
    files: dict[str, bytes] = {}
    out: list[dict[str, Any]] = []
    work: dict[str, dict[str, int]] = {}
    for p in _walk(run_dir):
        rel = p.relative_to(run_dir)
        name = str(rel)
        if any(part.startswith(".") for part in rel.parts) or _is_bundle(rel) \
                or "__pycache__" in rel.parts:
            continue   # partial files, checkpoints, earlier bundles
        if p.is_symlink():
            out.append({"file": name, "reason": "symbolic link (not followed)"})
            continue
        size = p.stat().st_size
        copy = next((part for part in rel.parts if part in WORK_COPIES), None)
        if copy is not None and size <= LARGE:
            key = str(Path(*rel.parts[:rel.parts.index(copy) + 1]))
            w = work.setdefault(key, {"files": 0, "bytes": 0})
            w["files"] += 1
            w["bytes"] += size
            continue
        if p.suffix in PCAP_SUFFIXES and size > PCAP_TRIM_ABOVE:
            trimmed = trim_file(p, name)
            stem = name[: -len(p.suffix)]
            files[f"{stem}.trimmed.pcap"] = trimmed.pcap
            summary = {**trimmed.summary, "original": {"file": name, "bytes": size,
                                                        "sha256": sha256_file(p)}}
            files[f"{stem}.trimmed.json"] = (json.dumps(summary, indent=1) + "\n").encode()
            continue
        text = p.suffix in TEXT_SUFFIXES
        if size > (TEXT_LIMIT if text else LARGE):
            out.append({"file": name, "bytes": size, "sha256": sha256_file(p),
                        "reason": "large artifact left out (ask for it by its sha256)"})
            continue
        data = p.read_bytes()
        if text:
            data = relativize_text(data.decode("utf-8", "replace"), roots).encode()
        files[name] = data
    out += [{"directory": k, **v,
             "reason": "lab working state (image root, NFS exports, server registry)"}
            for k, v in sorted(work.items())]
    return files, out


def check_secrets(files: dict[str, bytes]) -> None:
    """Refuse the bundle if any file looks like a private key or token, naming the file."""
    for name, data in sorted(files.items()):
        what = secret_in(name, data)
        if what:
            raise BundleError(f"{name} looks like {what}: not bundling it (a bundle is "
                              "public); remove it from the run directory first")


def manifest(run_dir: Path, files: dict[str, bytes], left_out: list[dict[str, Any]]) -> bytes:
    """Pure-ish: the manifest (every bundled file's sha256, what was left out)."""
    summary_path = run_dir / "summary.json"
    outside: list[dict[str, Any]] = []
    if summary_path.is_file():
        image = json.loads(summary_path.read_text()).get("image") or {}
        outside = [{"file": f"image archive {k}", "sha256": v,
                    "reason": "kept in waltport's state dir"}
                   for k, v in sorted((image.get("archive_sha256") or {}).items())]
    obj = {"schema": "waltport.bundle/1", "run": run_dir.name,
           "files": [{"file": k, "bytes": len(v), "sha256": _sha(v)}
                     for k, v in sorted(files.items())],
           "left_out": left_out + outside}
    return (json.dumps(obj, indent=1) + "\n").encode()


def _mtime() -> int:
    # Zip cannot store times before 1980: clamp.
    return max(declared_epoch() or 0, 315532800)


def pack(files: dict[str, bytes], fmt: str, top: str) -> bytes:
    """Pure: the archive bytes (entries sorted, fixed owner, mode and time)."""
    stamp = _mtime()
    buf = io.BytesIO()
    if fmt == ".zip":
        when = dt.datetime.fromtimestamp(stamp, dt.UTC).timetuple()[:6]
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in sorted(files.items()):
                zinfo = zipfile.ZipInfo(f"{top}/{name}", date_time=when)
                zinfo.external_attr = 0o644 << 16
                zinfo.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zinfo, data)
        return buf.getvalue()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=stamp) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(data), stamp, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def bundle_format(out: Path) -> str:
    fmt = next((f for f in FORMATS if out.name.endswith(f)), None)
    if fmt is None:
        raise UsageError(f"--out {out}: give a .zip or .tar.gz file name")
    return ".tar.gz" if fmt == ".tgz" else fmt


def write_bundle(run_dir: str | Path, out: str | Path | None = None) -> BundleInfo:
    """Bundle the run in ``run_dir`` into ``out`` (default ``RUN_DIR/waltport-bundle.zip``)."""
    rd = Path(run_dir).resolve()
    if not (rd / "summary.json").is_file():
        raise UsageError(f"{run_dir}: not a run directory of waltport run (no summary.json)")
    dest = check_out_file(out, option="--out") if out else rd / BUNDLE_NAME
    fmt = bundle_format(dest)
    files, left_out = collect(rd, host_roots(rd))
    check_secrets(files)
    files[MANIFEST] = manifest(rd, files, left_out)
    data = pack(files, fmt, rd.name)
    write_bytes(dest, data)
    return BundleInfo(dest.resolve(), len(data), len(files), len(left_out),
                      len(data) > ATTACHMENT_LIMIT)
