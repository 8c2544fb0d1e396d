"""Debian packages of the target arch for the default image (dropbear and its libraries).

Fetched with the lab's private apt (:class:`waltport.host.apt.PrivateApt`:
own lists and cache, host dpkg untouched), unpacked with ``dpkg-deb -x`` into
the shared cache, never installed and never run.  Only the files the image
needs are copied out of them (see :mod:`waltport.image.rootfs`).
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from waltport.errors import ToolMissing
from waltport.host.apt import FetchError, PrivateApt, debian_arch
from waltport.util.atomic import staged_dir
from waltport.util.paths import cache_dir

SSH_PACKAGES = ("dropbear-bin", "libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "zlib1g",
                "libgmp10")


@dataclass(frozen=True)
class DebTree:
    """One Debian package unpacked in the cache: its name, exact version and files."""

    package: str
    version: str
    root: Path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", name)


def _cached(package: str, darch: str) -> Path | None:
    trees = sorted(p for p in (cache_dir() / "debs").glob(f"{_safe(package)}_{darch}_*")
                   if (p / ".complete").exists())
    return trees[-1] / "root" if trees else None


def _spec(package: str, darch: str) -> str:
    # Architecture "all" packages are named without a suffix (apt treats them as native).
    return package if darch == "all" else f"{package}:{darch}"


def _unpack(apt: PrivateApt, package: str, darch: str) -> Path:
    version = apt.version(_spec(package, darch))
    final = cache_dir() / "debs" / f"{_safe(package)}_{darch}_{_safe(version)}"
    if (final / ".complete").exists():
        return final / "root"
    if shutil.which("dpkg-deb") is None:
        raise ToolMissing("dpkg-deb", "dpkg")
    with staged_dir(final) as stage:
        deb = apt.download(f"{_spec(package, darch)}={version}", stage / ".download")
        res = subprocess.run(["dpkg-deb", "-x", str(deb), str(stage / "root")],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise FetchError(f"dpkg-deb -x {deb.name} failed: {res.stderr.strip()}")
        shutil.rmtree(stage / ".download")
        (stage / ".complete").write_text(f"{_spec(package, darch)} {version}\n")
    return final / "root"


def fetch_packages(arch: str, packages: tuple[str, ...] = SSH_PACKAGES) -> list[Path]:
    """Unpacked trees of ``packages`` for ``arch`` (cached; apt only for missing ones)."""
    darch = debian_arch(arch)
    root = cache_dir()
    # Same lock as the lab's fetches: one apt at a time on the shared private state.
    with open(root / "debian-fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        trees = {p: _cached(p, darch) for p in packages}
        missing = [p for p, t in trees.items() if t is None]
        if missing:
            apt = PrivateApt(root / "apt")
            for p in missing:
                trees[p] = _unpack(apt, p, darch)
    return [t for t in trees.values() if t is not None]


def fetch_tree(package: str, darch: str) -> DebTree:
    """``package`` of Debian arch ``darch`` (``all`` for arch-independent) with its version.

    From the cache when a tree is there, else resolved and fetched by the private apt.
    """
    root = cache_dir()
    with open(root / "debian-fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tree = _cached(package, darch)
        if tree is None:
            tree = _unpack(PrivateApt(root / "apt"), package, darch)
    # .complete holds "<package[:arch]> <version>": the version apt resolved and checked.
    version = (tree.parent / ".complete").read_text().split()[1]
    return DebTree(package, version, tree)
