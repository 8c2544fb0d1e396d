"""*Edge.* ``waltport media``: fetch what the plan names, build the image, write it and its sidecar.

Debian packages come through the project's private apt (own lists and cache,
``main`` + ``non-free-firmware``; the host's apt is untouched), unpacked in
the shared cache; files are read inside the unpacked tree only (an absolute
symlink such as ipxe's ``/usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi`` is
resolved inside the tree, never on the host).  Nothing is written until the
whole image is built; then the image, ``<image>.json`` and ``<image>.md``
are each written atomically.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Protocol

from waltport._version import __version__
from waltport.bootloader.render import render_artifacts
from waltport.errors import WaltportError
from waltport.host.apt import fetch_kernel
from waltport.image.debs import fetch_tree
from waltport.media.disk import VOLUME_ID, RawBytes, assemble, build_fat, mbr
from waltport.media.plan import (
    MediaError,
    MediaPlan,
    Source,
    plan_media,
    raw_overlaps,
)
from waltport.media.sidecar import Entry, Sidecar, sidecar_paths
from waltport.profile.media import SECTOR
from waltport.profile.model import Profile
from waltport.util.atomic import write_bytes, write_text
from waltport.util.epoch import source_date_epoch
from waltport.util.outdir import check_out_file

MAX_LINKS = 40
MBR_CODE = 440
# What syslinux --install writes itself (from the installer binary).
SYSLINUX_FILES = {"ldlinux.sys": "syslinux", "ldlinux.c32": "syslinux"}


@dataclass(frozen=True)
class Fetched:
    data: bytes
    package: str
    version: str


@dataclass(frozen=True)
class MediaResult:
    image: Path
    sidecar_json: Path
    sidecar_md: Path
    sidecar: Sidecar


class MediumCheck(Protocol):
    """A check run on the written medium, its findings added to the sidecar (e.g. under QEMU).

    Implemented above this layer (:class:`waltport.lab.cardcheck.QemuCardCheck`):
    the caller hands it in, so ``media/`` needs nothing from the lab.
    """

    def refusal(self, model: str) -> str | None:
        """Why a medium for ``model`` cannot be checked (None: it can); asked before building."""

    def outputs(self, image: Path) -> tuple[Path, ...]:
        """The files the check writes next to ``image`` (checked before anything is written)."""

    def run(self, profile: Profile, plan: MediaPlan, image: Path) -> dict[str, object]:
        """Check the written ``image``; the sidecar's ``verification``."""


def read_in_tree(root: Path, rel: str) -> bytes:
    """The file at ``rel`` inside ``root``, symlinks resolved inside ``root`` only."""
    parts = list(PurePosixPath(rel.lstrip("/")).parts)
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, part)
        if here.is_symlink():
            hops += 1
            if hops > MAX_LINKS:
                raise MediaError(f"{rel}: too many symbolic links")
            target = PurePosixPath(os.readlink(here))
            if target.is_absolute():
                done = []
            parts = [*target.parts[1 if target.is_absolute() else 0:], *parts]
            continue
        done.append(part)
    path = root.joinpath(*done)
    if not path.is_file():
        raise MediaError(f"{rel}: no such file")
    return path.read_bytes()


def _host_version(package: str) -> str:
    res = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        raise MediaError(f"the Debian package {package} is not installed on this host "
                         "(scripts/bootstrap.sh installs it)")
    return res.stdout.strip()


def _tree_version(root: Path) -> str:
    return (root.parent / ".complete").read_text().split()[1]


def fetch(source: Source, base: Path, data: bytes | None) -> Fetched:
    """The bytes of one planned file, with the package and version they come from."""
    try:
        if source.origin == "waltport":
            if data is None:
                raise MediaError("a generated file of the plan has no content")
            return Fetched(data, "waltport", __version__)
        if source.origin == "porter":
            path = base / source.path
            if not path.is_file():
                raise MediaError(f"media.binaries: porter-supplied file {source.path!r} does "
                                 f"not exist (paths are relative to the profile)")
            return Fetched(path.read_bytes(), "porter", "-")
        if source.origin == "host-deb":
            version = _host_version(source.package)
            if not Path(source.path).is_file():
                raise MediaError(f"{source.path} is missing (Debian package {source.package})")
            return Fetched(Path(source.path).read_bytes(), source.package, version)
        if source.origin == "kernel-dtb":
            kernel = fetch_kernel(source.arch, flavour=source.arch)
            root = kernel.image.parents[1]
            rel = f"usr/lib/linux-image-{kernel.version}/{source.path}"
            return Fetched(read_in_tree(root, rel), f"linux-image-{kernel.version}",
                           _tree_version(root))
        tree = fetch_tree(source.package, source.arch)
        try:
            blob = read_in_tree(tree.root, source.path)
        except MediaError as err:
            raise MediaError(f"Debian package {source.package} {tree.version} has no "
                             f"{source.path}") from err
        return Fetched(blob, source.package, tree.version)
    except MediaError:
        raise
    except WaltportError as err:
        raise MediaError(f"Debian package {source.package or 'linux-image'} "
                         f"({source.arch or 'host'}): {err}") from err


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uefi_notes(files: dict[str, Fetched]) -> tuple[str, ...]:
    """*Pure.* What the medium cannot do, found in its own binaries (name -> fetched)."""
    efi = files.get("EFI/BOOT/BOOTX64.EFI")
    if efi is None or b"autoexec" in efi.data or "autoexec".encode("utf-16-le") in efi.data:
        return ()
    return (f"UEFI: this ipxe.efi ({efi.package} {efi.version}) predates iPXE's autoexec.ipxe "
            "support (added in 2021; 'autoexec' is absent from the binary), so in UEFI mode it "
            "starts without WalT's script; boot the key in BIOS (legacy) mode, where syslinux "
            "starts ipxe.lkrn with boot.ipxe",)


def build_image(plan: MediaPlan, base: Path) -> tuple[bytes, list[Entry], list[Entry],
                                                       tuple[str, ...]]:
    """The whole image and its content list (files read back from the partition, raw)."""
    fetched = {f.dest: fetch(f.source, base, f.data) for f in plan.files}
    raw_f = {r.name: fetch(r.source, base, None) for r in plan.raw}
    # Sector 0 holds boot code only up to the disk id and the partition table.
    raw_f = {r.name: replace(raw_f[r.name], data=raw_f[r.name].data[:MBR_CODE])
             if r.sector == 0 else raw_f[r.name] for r in plan.raw}
    problems = raw_overlaps(plan, {n: len(f.data) for n, f in raw_f.items()})
    if problems:
        raise MediaError("; ".join(problems))
    image_bytes = plan.image_mib * 1024 * 1024
    part_sectors = image_bytes // SECTOR - plan.partition_start
    fat, back = build_fat({d: f.data for d, f in fetched.items()}, part_sectors * SECTOR // 1024,
                          plan.partition_start, bios_boot=plan.bios_boot)
    non_free = {f.dest for f in plan.files if f.non_free}
    entries = []
    for path, data in sorted(back.items()):
        src = fetched.get(path)
        if src is None and path in SYSLINUX_FILES:
            src = Fetched(data, SYSLINUX_FILES[path], _host_version(SYSLINUX_FILES[path]))
        if src is None:
            raise MediaError(f"{path} appeared on the partition but is not in the plan")
        if src.data != data:
            raise MediaError(f"{path}: the bytes read back differ from the bytes written")
        entries.append(Entry(path, len(data), _sha(data), src.package, src.version,
                             path in non_free))
    missing = set(fetched) - set(back)
    if missing:
        raise MediaError(f"not found on the partition after copying: {sorted(missing)}")
    boot = next((raw_f[r.name].data for r in plan.raw if r.sector == 0), b"")
    head = mbr(plan.partition_start, part_sectors, boot_code=boot)
    blobs = [RawBytes(r.name, r.sector, raw_f[r.name].data) for r in plan.raw if r.sector]
    image = assemble(head, blobs, fat, plan.partition_start, image_bytes)
    raw_entries = [Entry(r.name, len(f.data), _sha(f.data), f.package, f.version, sector=r.sector)
                   for r in plan.raw for f in (raw_f[r.name],)]
    return image, entries, raw_entries, uefi_notes(fetched)


def build_profile_media(profile: Profile, out: str | Path, *, model: str | None = None,
                        base: Path | None = None,
                        check: MediumCheck | None = None) -> MediaResult:
    """Build ``profile``'s medium (for ``model``) at ``out`` with its sidecars.

    ``base``: where porter-supplied files are (the profile's directory).
    ``check``: run on the written image (e.g. a Raspberry Pi 3 card booted
    under QEMU); what it proved goes into the sidecar.
    """
    when = source_date_epoch()
    plan = plan_media(profile, model, render_artifacts(profile, timestamp=when))
    refusal = check.refusal(plan.model) if check is not None else None
    if refusal is not None:
        raise MediaError(refusal)
    # The image and its sidecars: checked before anything is fetched or written.
    dest = check_out_file(out, option="--out")
    js, md = sidecar_paths(dest)
    for path in (js, md, *(check.outputs(dest) if check is not None else ())):
        check_out_file(path, option="--out")
    image, files, raw, notes = build_image(plan, base or Path.cwd())
    sidecar = Sidecar(dest.name, len(image), _sha(image), profile.name, plan.model, plan.kind,
                      plan.partition_start, len(image) // SECTOR - plan.partition_start,
                      VOLUME_ID, tuple(files), tuple(raw), notes, when)
    write_bytes(dest, image)
    if check is not None:
        sidecar = replace(sidecar, verification=check.run(profile, plan, dest))
    write_text(js, sidecar.to_json())
    write_text(md, sidecar.to_markdown())
    return MediaResult(dest, js, md, sidecar)
