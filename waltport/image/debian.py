"""The Debian base of a default image: ``mmdebstrap`` of a suite for the image's arch.

What a WalT user gets on a node is a full Debian system (``apt``, ``systemctl``,
``python3``), not a busybox rootfs.  The base is one reproducible tarball made
by mmdebstrap (``SOURCE_DATE_EPOCH`` clamps every time stamp; the only random
files, the SSH host keys made by openssh's postinst, are removed: they would be
private keys shared by every node and published with the image).  Foreign
architectures run their package scripts through qemu-user-static and
binfmt_misc (``scripts/bootstrap.sh`` registers them).

The tarball is cached under ``cache_dir()/debian``, keyed by suite, arch,
package list, ``SOURCE_DATE_EPOCH``, the mmdebstrap recipe and the archive's
state (the ``Date:`` of each suite's signed ``InRelease``, which pins every
package version).  A build uses the newest cached base of the same recipe
(offline, and the image ID stays the same); ``refresh`` reads the archive's
state and builds a new base when it moved.

The WalT layer on top (:func:`walt_layer_files`) is plain files written by
waltport (systemd units, sshd drop-in), so nothing runs at image build time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from waltport.errors import ToolMissing, WaltportError
from waltport.host.apt import DEBIAN_ARCH, fetch_busybox
from waltport.host.proc import run_to_the_end
from waltport.image.rootfs import image_models, write_boot_tree
from waltport.profile.model import DEBIAN_PACKAGE, DEBIAN_SUITE, Profile
from waltport.util.atomic import staged_dir, write_text
from waltport.util.paths import cache_dir

DEFAULT_SUITE = "bookworm"
# What a WalT user expects on a node, plus the optional WalT features that are
# plain Debian packages (lldpd, chrony, avahi-daemon, nbd-client).
BASE_PACKAGES = ("systemd-sysv", "udev", "dbus", "kmod", "iproute2", "iputils-ping",
                 "procps", "openssh-server", "busybox-static", "python3", "ca-certificates",
                 "lldpd", "chrony", "avahi-daemon", "nbd-client")
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
QEMU_USER = {"arm64": "aarch64", "armhf": "arm", "armel": "arm", "i386": "i386", "amd64": "x86_64"}
BUILD_TIMEOUT = 3600
SUITE_RE = re.compile(DEBIAN_SUITE)
PACKAGE_RE = re.compile(DEBIAN_PACKAGE)


class DebianError(WaltportError):
    """The Debian base could not be built (names the suite, arch or package and why)."""

    exit_code = 2


@dataclass(frozen=True)
class DebianBase:
    """A cached mmdebstrap tarball and what it was made from."""

    tarball: Path
    suite: str
    arch: str                    # Debian arch (arm64, armhf, amd64, i386)
    packages: tuple[str, ...]
    archive_dates: tuple[str, ...]   # the InRelease Date of each suite it was built from
    cached: bool                 # True: reused, not built now
    note: str = ""               # e.g. "--refresh: the archive cannot be reached"


def debian_arch(arch: str) -> str:
    """Debian's name of a profile arch or userland (the private apt's table). *Pure.*"""
    try:
        return DEBIAN_ARCH[arch]
    except KeyError as err:
        raise DebianError(f"no Debian userland for arch {arch!r}: one of "
                          f"{sorted(DEBIAN_ARCH)}") from err


def check_inputs(suite: str, packages: tuple[str, ...]) -> None:
    """Refuse a suite or package name that is not Debian's form. *Pure.*"""
    if not SUITE_RE.fullmatch(suite):
        raise DebianError(f"image.suite: {suite!r} is not a Debian suite name (e.g. bookworm)")
    bad = [p for p in packages if not PACKAGE_RE.fullmatch(p)]
    if bad:
        raise DebianError(f"image.packages: {bad} are not Debian package names")


def suites_of(suite: str) -> tuple[tuple[str, str], ...]:
    """(mirror, suite) pairs a system of ``suite`` is built from (with updates, security)."""
    if suite in ("sid", "unstable"):
        return ((MIRROR, suite),)
    return ((MIRROR, suite), (MIRROR, f"{suite}-updates"),
            (SECURITY_MIRROR, f"{suite}-security"))


def all_packages(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The base packages plus the profile's extras, sorted, once each. *Pure.*"""
    return tuple(sorted(set(BASE_PACKAGES) | set(extra)))


def cache_key(suite: str, darch: str, packages: tuple[str, ...], epoch: int,
              dates: tuple[str, ...]) -> str:
    """The cache entry name of a base (the mmdebstrap recipe included). *Pure.*"""
    blob = json.dumps([suite, darch, list(packages), epoch, list(dates),
                       _recipe(suite, darch, packages)]).encode()
    return f"{suite}-{darch}-{hashlib.sha256(blob).hexdigest()[:16]}"


def mmdebstrap_argv(suite: str, darch: str, packages: tuple[str, ...], out: Path) -> list[str]:
    """The mmdebstrap command line (pure): variant apt, the packages, keys removed."""
    sources = [f"deb {mirror} {s} main" for mirror, s in suites_of(suite)]
    return ["mmdebstrap", "--variant=apt", "--format=tar", f"--architectures={darch}",
            f"--include={','.join(packages)}",
            "--aptopt=Acquire::Retries \"3\"",
            # A container image carries no /dev (the node mounts devtmpfs on it; the
            # WalT layer brings the empty directory).
            "--skip=output/dev",
            # Private keys must not be in a public image, and random bytes break
            # reproducibility: the image makes its own host keys at first boot.
            "--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*",
            "--customize-hook=rm -f \"$1\"/var/lib/dbus/machine-id",
            "--customize-hook=: > \"$1\"/etc/machine-id",
            suite, str(out), *sources]


def parse_release_date(text: str) -> str:
    """The ``Date:`` field of an InRelease/Release file. *Pure.*"""
    m = re.search(r"^Date:\s*(.+?)\s*$", text, re.MULTILINE)
    if m is None:
        raise DebianError("InRelease without a Date: field")
    return m.group(1)


def archive_dates(suite: str, timeout: float = 20.0) -> tuple[str, ...]:
    """The ``Date:`` of each suite's InRelease, fetched from the mirror. *Edge.*"""
    dates = []
    for mirror, s in suites_of(suite):
        url = f"{mirror}/dists/{s}/InRelease"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                text = resp.read(65536).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as err:
            raise DebianError(f"{url}: {err}") from err
        dates.append(f"{s}: {parse_release_date(text)}")
    return tuple(dates)


def binfmt_ready(darch: str, host: str) -> str | None:
    """Why packages of ``darch`` cannot be configured here, or None. *Edge (reads /proc).*"""
    if darch == host or (host == "amd64" and darch == "i386"):
        return None
    name = QEMU_USER.get(darch, darch)
    entry = Path("/proc/sys/fs/binfmt_misc") / f"qemu-{name}"
    if not entry.exists():
        return (f"binfmt_misc has no qemu-{name} entry: run scripts/bootstrap.sh (it installs "
                "qemu-user-static and registers it) to build a Debian image of that arch")
    if "enabled" not in entry.read_text():
        return f"binfmt_misc entry qemu-{name} is disabled (update-binfmts --enable qemu-{name})"
    return None


def _host_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _recipe(suite: str, darch: str, packages: tuple[str, ...]) -> list[str]:
    return mmdebstrap_argv(suite, darch, packages, Path("OUT"))


def _newest_cached(root: Path, suite: str, darch: str, packages: tuple[str, ...],
                   epoch: int) -> tuple[Path, tuple[str, ...]] | None:
    """The newest base made from the same recipe, whatever the archive's state then."""
    best: tuple[str, Path, tuple[str, ...]] | None = None
    recipe = _recipe(suite, darch, packages)
    for meta in root.glob(f"{suite}-{darch}-*.json"):
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        tar = meta.with_suffix(".tar")
        if (tuple(info.get("packages", ())) == packages and info.get("epoch") == epoch
                and info.get("recipe") == recipe and tar.is_file()
                and (best is None or info["built"] > best[0])):
            best = (info["built"], tar, tuple(info["dates"]))
    return (best[1], best[2]) if best else None


def cached_base(arch: str, *, suite: str = DEFAULT_SUITE, extra: tuple[str, ...] = (),
                epoch: int = 0) -> Path | None:
    """The base a build would use now without ``refresh``, or None (one would be built)."""
    packages = all_packages(extra)
    hit = _newest_cached(cache_dir() / "debian", suite, debian_arch(arch), packages, epoch)
    return hit[0] if hit else None


def debian_base(arch: str, *, suite: str = DEFAULT_SUITE, extra: tuple[str, ...] = (),
                epoch: int = 0, refresh: bool = False) -> DebianBase:
    """The mmdebstrap tarball of ``suite`` for ``arch``: cached, or built now. *Edge.*

    Without ``refresh`` the newest cached base of the same recipe is used as it
    is (no network: the porter's loop, offline runs, stable image IDs); with
    it, or when none is cached, the archive's state is read and a base is
    built unless one of that state is cached.
    """
    darch = debian_arch(arch)
    packages = all_packages(extra)
    check_inputs(suite, packages)
    root = cache_dir() / "debian"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"build-{suite}-{darch}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        hit = _newest_cached(root, suite, darch, packages, epoch)
        if hit is not None and not refresh:
            return DebianBase(hit[0], suite, darch, packages, hit[1], True)
        try:
            dates = archive_dates(suite)
        except DebianError as err:
            if hit is None:
                raise DebianError(f"no cached Debian {suite} base for {darch} and the archive "
                                  f"cannot be reached: {err}") from err
            return DebianBase(hit[0], suite, darch, packages, hit[1], True,
                              f"--refresh: the archive cannot be reached ({err}); "
                              "the newest cached base is used")
        key = cache_key(suite, darch, packages, epoch, dates)
        tar = root / f"{key}.tar"
        if tar.exists():
            return DebianBase(tar, suite, darch, packages, dates, True)
        _build(suite, darch, packages, tar, epoch)
        write_text(root / f"{key}.json", json.dumps(
            {"suite": suite, "arch": darch, "packages": list(packages), "epoch": epoch,
             "dates": list(dates), "recipe": _recipe(suite, darch, packages),
             "built": _now_iso()}, indent=1) + "\n")
        return DebianBase(tar, suite, darch, packages, dates, False)


def _now_iso() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _build(suite: str, darch: str, packages: tuple[str, ...], tar: Path, epoch: int) -> None:
    if shutil.which("mmdebstrap") is None:
        raise ToolMissing("mmdebstrap", "mmdebstrap")
    why = binfmt_ready(darch, _host_arch())
    if why:
        raise DebianError(why)
    partial = tar.with_name(f".{tar.stem}.partial.tar")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SOURCE_DATE_EPOCH": str(epoch),
           "LC_ALL": "C.UTF-8", "TMPDIR": str(tar.parent)}
    argv = mmdebstrap_argv(suite, darch, packages, partial)
    # Partials of earlier builds that were killed (this lock's names only).
    for stale in tar.parent.glob(f".{suite}-{darch}-*.partial.tar"):
        stale.unlink(missing_ok=True)
    try:
        # mmdebstrap unmounts and removes its temp dir on SIGTERM, not on SIGKILL.
        res = run_to_the_end(argv, env=env, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired as err:
        partial.unlink(missing_ok=True)
        raise DebianError(f"mmdebstrap {suite} {darch} took over {BUILD_TIMEOUT} s") from err
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if res.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = " | ".join((res.stderr or res.stdout).strip().splitlines()[-4:])
        raise DebianError(f"mmdebstrap {suite} {darch} failed: {tail}")
    partial.replace(tar)


HOSTKEYS_UNIT = """\
[Unit]
Description=SSH host keys of this node (the image ships none)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
RequiredBy=ssh.service
"""
IMAGE_INIT_UNIT = """\
[Unit]
Description=Tell the bench the image's own init is up (console marker)
After=ssh.service
Wants=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/waltport-image-init

[Install]
WantedBy=multi-user.target
"""
# A script, not a unit line: systemd would print a unit's text in its warnings, and
# the lab would take that console line for the marker.
IMAGE_INIT_SCRIPT = """\
#!/bin/sh
# waltport: the image's own init is up and sshd runs: say so on the console.
model=$(cat /etc/walt-model 2>/dev/null || echo unknown)
addr=$(ip -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}')
echo "WALTPORT-IMAGE-""INIT model=$model ip=$addr sshd=openssh:22" > /dev/console
"""
KEEP_NAMES_LINK = """\
# waltport: keep the kernel's interface names (eth0), as WalT's net.ifnames=0 does:
# the node's address was set on eth0 before this system started.
[Match]
OriginalName=*

[Link]
NamePolicy=kernel
MACAddressPolicy=none
"""
SSHD_DROPIN = """\
# waltport: WalT reaches nodes as root with its key; no passwords.
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""


@dataclass(frozen=True)
class LayerFile:
    """One file, directory or symlink of the WalT layer."""

    path: str                  # relative to the image root
    data: bytes | None = None  # None: a directory (or a symlink when ``link`` is set)
    mode: int = 0o644
    link: str = ""


def walt_layer_files() -> tuple[LayerFile, ...]:
    """What waltport adds to a Debian base so it boots as a WalT node. *Pure.*

    systemd units are enabled by their ``.wants``/``.requires`` links (what
    ``systemctl enable`` would write), so nothing runs at build time.
    """
    units = "etc/systemd/system"
    return (
        LayerFile("etc/hostname", b"walt-node\n"),
        LayerFile("etc/ssh/sshd_config.d/walt.conf", SSHD_DROPIN.encode()),
        LayerFile("etc/systemd/network/99-default.link", KEEP_NAMES_LINK.encode()),
        LayerFile(f"{units}/waltport-ssh-hostkeys.service", HOSTKEYS_UNIT.encode()),
        LayerFile(f"{units}/ssh.service.requires/waltport-ssh-hostkeys.service",
                  link="../waltport-ssh-hostkeys.service"),
        LayerFile(f"{units}/waltport-image-init.service", IMAGE_INIT_UNIT.encode()),
        LayerFile("usr/local/sbin/waltport-image-init", IMAGE_INIT_SCRIPT.encode(), 0o755),
        LayerFile(f"{units}/multi-user.target.wants/waltport-image-init.service",
                  link="../waltport-image-init.service"),
        LayerFile("dev", mode=0o755),
        LayerFile("root", mode=0o700),
        LayerFile("root/.ssh", mode=0o700),
    )


def write_layer_files(files: tuple[LayerFile, ...], root: Path) -> None:
    """Write ``files`` under ``root`` (a directory waltport created). *Edge.*"""
    for f in files:
        p = root / f.path
        p.parent.mkdir(parents=True, exist_ok=True)
        if f.link:
            p.symlink_to(f.link)
        elif f.data is None:
            p.mkdir(exist_ok=True)
            p.chmod(f.mode)
        else:
            p.write_bytes(f.data)
            p.chmod(f.mode)


def assemble_walt_layer(profile: Profile, out_dir: Path, arch: str,
                        porter_dir: Path | None = None) -> list[str]:
    """The layer waltport puts on a Debian base: WalT files and the boot tree; notes. *Edge.*"""
    models = image_models(profile, arch)
    busybox = fetch_busybox(profile.userland_of(arch)).read_bytes()
    with staged_dir(out_dir) as root:
        write_layer_files(walt_layer_files(), root)
        return write_boot_tree(profile, root, models, busybox=busybox, porter_dir=porter_dir)
