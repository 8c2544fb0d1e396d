"""The disk image of a medium: an MBR, raw binaries at their sectors, one FAT partition.

The MBR is computed here (*pure*); the FAT filesystem is made by
``mkfs.vfat`` and filled by ``mmd``/``mcopy`` (no mount, no root needed) in
sorted order, with a fixed volume id, ``--invariant`` and every time stamp
from ``SOURCE_DATE_EPOCH`` (mtools reads it; ``TZ=UTC`` so the local zone
does not leak in).  ``syslinux --install`` (the mtools variant) makes the
partition BIOS-bootable.  Everything happens in a private temporary directory;
the caller writes the result atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from waltport.media.plan import FAT_LBA, MediaError
from waltport.profile.media import SECTOR
from waltport.util.epoch import source_date_epoch

VOLUME_ID = "57a17000"              # fixed: mkfs.vfat otherwise draws a random serial
DOS_EPOCH = 315532800               # 1980-01-01 UTC: FAT cannot store an earlier time
LABEL = "WALTBOOT"


@dataclass(frozen=True)
class RawBytes:
    name: str
    sector: int
    data: bytes


def mbr(part_start: int, part_sectors: int, *, boot_code: bytes = b"",
        disk_id: str = VOLUME_ID) -> bytes:
    """*Pure.* A 512-byte MBR: optional boot code, one bootable FAT16 (LBA) partition."""
    if len(boot_code) > 440:
        raise MediaError(f"MBR boot code is {len(boot_code)} bytes: at most 440 fit")
    entry = bytes([0x80, 0xFE, 0xFF, 0xFF, FAT_LBA, 0xFE, 0xFF, 0xFF]) + \
        part_start.to_bytes(4, "little") + part_sectors.to_bytes(4, "little")
    return (boot_code.ljust(440, b"\0") + int(disk_id, 16).to_bytes(4, "little") + b"\0\0"
            + entry + b"\0" * 48 + b"\x55\xaa")


def assemble(head: bytes, raw: list[RawBytes], fat: bytes, part_start: int,
             image_bytes: int) -> bytes:
    """*Pure.* MBR + raw binaries + the partition, zero-filled to ``image_bytes``."""
    img = bytearray(image_bytes)
    img[0:SECTOR] = head
    for r in raw:
        img[r.sector * SECTOR:r.sector * SECTOR + len(r.data)] = r.data
    start = part_start * SECTOR
    img[start:start + len(fat)] = fat
    return bytes(img)


def tool_env() -> dict[str, str]:
    """mtools' environment: reproducible times, no drive-geometry check."""
    when = max(source_date_epoch(), DOS_EPOCH)
    return {**os.environ, "MTOOLS_SKIP_CHECK": "1", "TZ": "UTC",
            "SOURCE_DATE_EPOCH": str(when)}


def _run(argv: list[str], package: str) -> str:
    if shutil.which(argv[0]) is None:
        raise MediaError(f"{argv[0]} not found: install the Debian package {package}")
    res = subprocess.run(argv, capture_output=True, text=True, check=False, env=tool_env())
    if res.returncode != 0:
        raise MediaError(f"{argv[0]} failed: {(res.stderr or res.stdout).strip()}")
    return res.stdout


def mkfs_argv(image: Path, size_kib: int, part_start: int) -> list[str]:
    return ["mkfs.vfat", "-F", "16", "--invariant", "-i", VOLUME_ID, "-n", LABEL,
            "-h", str(part_start), "-C", str(image), str(size_kib)]


def build_fat(files: dict[str, bytes], size_kib: int, part_start: int, *,
              bios_boot: bool = False) -> tuple[bytes, dict[str, bytes]]:
    """A FAT16 filesystem with ``files`` (dest -> bytes); also every file read back from it.

    The read-back is the content list's truth: it includes what ``syslinux``
    wrote (``ldlinux.sys`` patched with its sector map, ``ldlinux.c32``).
    """
    env = tool_env()
    when = int(env["SOURCE_DATE_EPOCH"])
    with tempfile.TemporaryDirectory(prefix="waltport-media-") as tmp:
        image = Path(tmp) / "part.img"
        _run(mkfs_argv(image, size_kib, part_start), "dosfstools")
        dirs = sorted({p.as_posix() for d in files for p in Path(d).parents} - {"."},
                      key=lambda d: (d.count("/"), d))
        for d in dirs:
            _run(["mmd", "-i", str(image), f"::{d}"], "mtools")
        src = Path(tmp) / "src"
        for dest, data in sorted(files.items()):
            f = src / dest
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
            os.utime(f, (when, when))
            _run(["mcopy", "-m", "-i", str(image), str(f), f"::{dest}"], "mtools")
        if bios_boot:
            _run(["syslinux", "--install", str(image)], "syslinux")
        back = Path(tmp) / "back"
        back.mkdir()
        _run(["mcopy", "-s", "-n", "-i", str(image), "::/", f"{back}/"], "mtools")
        content = {p.relative_to(back).as_posix(): p.read_bytes()
                   for p in sorted(back.rglob("*")) if p.is_file()}
        return image.read_bytes(), content

