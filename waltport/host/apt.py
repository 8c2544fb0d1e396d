"""Debian kernels and static busybox for the virtual boards, fetched, never installed.

The packages are fetched with the ordinary apt client but through a *private*
apt state (lists, cache, architectures) under ``cache_dir()/apt``: the host's
dpkg architecture list and package lists are never touched, so fetching the
arm64 kernel on an amd64 host needs no ``dpkg --add-architecture``.  apt
verifies every ``.deb`` against the signed release files; ``dpkg-deb -x``
unpacks it into a staging directory that is renamed into place only when
complete (one directory per package version).  A file lock serialises
concurrent runs (tests, benchmarks, other engineers).
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from waltport.errors import ToolMissing, WaltportError
from waltport.util.atomic import staged_dir
from waltport.util.paths import cache_dir

# Profile arch (or Debian userland arch) -> Debian arch.  A 32-bit ARM board's
# default userland is armhf (ARMv7); armel (ARMv5TE baseline) is named when an
# ARMv6 CPU must run it.
DEBIAN_ARCH = {"arm64": "arm64", "aarch64": "arm64", "x86_64": "amd64", "amd64": "amd64",
               "x86": "i386", "i386": "i386", "arm": "armhf", "armhf": "armhf",
               "armel": "armel"}
# Debian arch -> default kernel flavour: i386's plain "686" (no PAE) boots any
# 32-bit CPU a PC node may have; "686-pae" would refuse CPUs without PAE.
# armhf's "armmp" is the multiplatform ARMv7 kernel (QEMU virt, RPi 2...);
# armel's "rpi" is the one bookworm kernel for ARMv6 Raspberry Pis.
KERNEL_FLAVOUR = {"arm64": "arm64", "amd64": "amd64", "i386": "686", "armhf": "armmp",
                  "armel": "rpi"}
# Kernel flavour -> the Debian arch that ships it.
FLAVOUR_ARCH = {"arm64": "arm64", "amd64": "amd64", "686": "i386", "686-pae": "i386",
                "armmp": "armhf", "armmp-lpae": "armhf", "rpi": "armel", "marvell": "armel"}
APT_ARCHES = ("amd64", "arm64", "i386", "armhf", "armel")
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# The private state reads the host's mirrors with these components: the boot
# media need raspi-firmware, which Debian 12 ships in non-free-firmware.
COMPONENTS = ("main", "non-free-firmware")
APT_TIMEOUT = 900
PARTIAL_UPDATE = "Some index files failed to download"


class FetchError(WaltportError):
    """A Debian package could not be resolved, downloaded or unpacked."""


class AptFailed(FetchError):
    """An apt/dpkg command exited non-zero; ``indexes_skipped``: apt said that some
    index files failed to download (and used the others)."""

    def __init__(self, message: str, *, indexes_skipped: bool) -> None:
        super().__init__(message)
        self.indexes_skipped = indexes_skipped


@dataclass(frozen=True)
class KernelFiles:
    """An unpacked Debian kernel: the bootable image and its modules."""

    image: Path                 # arm64: raw Image (booti-able); arm: zImage; x86: bzImage
    version: str                # kernel release, e.g. 6.1.0-56-arm64, 6.1.0-56-686
    modules_dir: Path           # .../lib/modules/<version>
    config: Path | None         # .../boot/config-<version>
    dtb_dir: Path | None = None  # .../usr/lib/linux-image-<version> (ARM device trees)


def debian_arch(arch: str) -> str:
    """Map a profile arch (``arm64``, ``x86_64``, ``x86``) to Debian's name; error otherwise."""
    try:
        return DEBIAN_ARCH[str(arch)]
    except KeyError as err:
        raise FetchError(f"no Debian kernel for arch {arch!r}: the lab boots "
                         f"{sorted(set(DEBIAN_ARCH))}") from err


def apt_options(root: Path, arches: tuple[str, ...] = APT_ARCHES) -> list[str]:
    """apt ``-o`` options that confine apt to a private state under ``root``."""
    opts = {
        "Dir::Etc": root / "etc",
        "Dir::Etc::sourcelist": "/dev/null",
        "Dir::Etc::sourceparts": root / "etc" / "sources.list.d",
        "Dir::Etc::preferencesparts": root / "etc" / "preferences.d",
        "Dir::Etc::parts": root / "etc" / "apt.conf.d",
        "Dir::State::Lists": root / "lists",
        "Dir::Cache": root / "cache",
        "Dir::State::status": root / "status",
        "APT::Architecture": "amd64",
        "Acquire::Languages": "none",
    }
    out: list[str] = []
    for key, value in opts.items():
        out += ["-o", f"{key}={value}"]
    for a in arches:
        out += ["-o", f"APT::Architectures::={a}"]
    return out


def private_sources(host: str, components: tuple[str, ...] = COMPONENTS) -> str:
    """*Pure.* The host's deb822 sources with every stanza's ``Components`` widened.

    Only the private copy changes: the host's apt keeps what it had.
    """
    out = []
    for line in host.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Components":
            have = value.split()
            out.append(f"{key}: {' '.join([*have, *(c for c in components if c not in have)])}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _run(argv: list[str], *, cwd: Path | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise ToolMissing(argv[0], "apt" if argv[0].startswith("apt") else "dpkg")
    try:
        res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                             timeout=APT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as err:
        raise FetchError(f"{argv[0]} timed out after {APT_TIMEOUT} s") from err
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise AptFailed(f"{' '.join(argv[:2])} failed: {' | '.join(tail)}",
                        indexes_skipped=PARTIAL_UPDATE in res.stderr + res.stdout)
    return res.stdout


@contextmanager
def _locked(name: str) -> Iterator[Path]:
    root = cache_dir()
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield root


class PrivateApt:
    """apt with its own lists and cache: update once, then resolve and download."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._updated = False
        self.skipped_indexes = ""

    def _prepare(self) -> None:
        for d in ("lists/partial", "cache/archives/partial", "etc/sources.list.d",
                  "etc/apt.conf.d", "etc/preferences.d"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        if not HOST_SOURCES.exists():
            raise FetchError(f"{HOST_SOURCES} is missing: the lab fetches Debian kernels "
                             "from the host's Debian sources")
        (self.root / "etc" / "sources.list.d" / "debian.sources").write_text(
            private_sources(HOST_SOURCES.read_text()))

    def update(self) -> None:
        """``apt-get update`` once; an index that fails to download is skipped.

        apt keeps using the other (signature-checked) indexes, so a mirror
        serving one stale index (seen: bookworm-security's i386 list) costs
        only that index's candidates, not every fetch.
        """
        if not self._updated:
            self._prepare()
            try:
                _run(["apt-get", *apt_options(self.root), "-qq", "update"])
            except AptFailed as err:
                if not err.indexes_skipped:
                    raise
                self.skipped_indexes = str(err)
            self._updated = True

    def depends(self, package: str, prefix: str) -> str:
        """The dependency of ``package`` whose name starts with ``prefix``."""
        self.update()
        out = _run(["apt-cache", *apt_options(self.root), "depends", package])
        for line in out.splitlines():
            m = re.match(r"\s*Depends:\s*(\S+)", line)
            if m and m.group(1).startswith(prefix):
                return m.group(1)
        raise FetchError(f"{package}: no dependency named {prefix}* in the Debian lists")

    def version(self, package: str) -> str:
        self.update()
        out = _run(["apt-cache", *apt_options(self.root), "policy", package])
        m = re.search(r"Candidate:\s*(\S+)", out)
        if m is None or m.group(1) == "(none)":
            raise FetchError(f"{package}: not available from the Debian sources")
        return m.group(1)

    def download(self, package: str, dest: Path) -> Path:
        """``apt-get download`` (hash-checked by apt) into ``dest``; the .deb path."""
        self.update()
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob("*.deb"):
            old.unlink()
        _run(["apt-get", *apt_options(self.root), "-qq", "download", package], cwd=dest)
        debs = sorted(dest.glob("*.deb"))
        if len(debs) != 1:
            raise FetchError(f"{package}: apt-get download left {len(debs)} .deb files")
        return debs[0]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", name)


def _unpack(apt: PrivateApt, package: str, version: str) -> Path:
    """Unpack ``package`` at ``version`` into the cache once; the tree's path."""
    final = cache_dir() / "debs" / f"{_safe(package)}_{_safe(version)}"
    if (final / ".complete").exists():
        return final
    with staged_dir(final) as stage:
        deb = apt.download(f"{package}={version}", stage / ".download")
        _run(["dpkg-deb", "-x", str(deb), str(stage / "root")])
        shutil.rmtree(stage / ".download")
        (stage / ".complete").write_text(f"{package} {version}\n")
    return final


def _cached(pattern: str) -> Path | None:
    trees = sorted(p for p in (cache_dir() / "debs").glob(pattern) if (p / ".complete").exists())
    return trees[-1] if trees else None


def _kernel_files(tree: Path) -> KernelFiles:
    root = tree / "root"
    images = sorted((root / "boot").glob("vmlinuz-*"))
    if not images:
        raise FetchError(f"{tree}: no boot/vmlinuz-* in the kernel package")
    version = images[0].name.removeprefix("vmlinuz-")
    modules = root / "lib" / "modules" / version
    if not modules.is_dir():
        raise FetchError(f"{tree}: no lib/modules/{version} in the kernel package")
    config = root / "boot" / f"config-{version}"
    dtbs = root / "usr" / "lib" / f"linux-image-{version}"
    return KernelFiles(images[0], version, modules, config if config.exists() else None,
                       dtbs if dtbs.is_dir() else None)


def kernel_flavour_arch(flavour: str) -> str:
    """The Debian arch that ships kernel ``flavour``; error for an unknown flavour."""
    try:
        return FLAVOUR_ARCH[flavour]
    except KeyError as err:
        raise FetchError(f"unknown Debian kernel flavour {flavour!r}: known "
                         f"{sorted(FLAVOUR_ARCH)}") from err


def fetch_kernel(arch: str, *, flavour: str | None = None,
                 refresh: bool = False) -> KernelFiles:
    """Debian's current ``linux-image-<ver>-<flavour>`` unpacked in the cache.

    The flavour defaults to the arch's (``arm64``, ``amd64``, ``armmp``;
    ``686`` for i386); a given ``flavour`` (``rpi``, ``armmp-lpae``...)
    decides the Debian arch itself.  Without ``refresh`` a kernel already in
    the cache is used (offline runs); with it, apt resolves the newest
    version and fetches it if new.
    """
    if flavour is None:
        darch = debian_arch(arch)
        flavour = KERNEL_FLAVOUR[darch]
    else:
        darch = kernel_flavour_arch(flavour)
    with _locked("debian-fetch") as root:
        if not refresh and (tree := _cached(f"linux-image-*-{flavour}_{darch}_*")):
            return _kernel_files(tree)
        apt = PrivateApt(root / "apt")
        meta = f"linux-image-{flavour}:{darch}"
        package = apt.depends(meta, "linux-image-").split(":")[0]
        version = apt.version(f"{package}:{darch}")
        return _kernel_files(_unpack(apt, f"{package}:{darch}", version))


def fetch_busybox(arch: str, *, refresh: bool = False) -> Path:
    """Debian's ``busybox-static`` binary for ``arch`` (a static ELF), from the cache."""
    darch = debian_arch(arch)
    with _locked("debian-fetch") as root:
        tree = None if refresh else _cached(f"busybox-static_{darch}_*")
        if tree is None:
            apt = PrivateApt(root / "apt")
            version = apt.version(f"busybox-static:{darch}")
            # The tree is named busybox-static_<arch>_<version>: _cached() finds it.
            tree = _unpack(apt, f"busybox-static:{darch}", version)
        binary = tree / "root" / "bin" / "busybox"
        if not binary.is_file():
            raise FetchError(f"{tree}: no bin/busybox in busybox-static")
        return binary
