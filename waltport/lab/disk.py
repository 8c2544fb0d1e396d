"""The SD-card analog: a partitioned disk image whose FAT partition holds ``boot.scr``.

Built without mounting: an MBR written here (U-Boot's distro boot scans
partitions, it ignores a bare FAT filesystem), then a FAT filesystem made by
``mkfs.vfat --invariant`` with files copied by ``mcopy -m`` (file times from
the source, set to ``SOURCE_DATE_EPOCH``): same files, same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from waltport.errors import ToolMissing, WaltportError
from waltport.lab.cpio import source_date_epoch
from waltport.util.atomic import write_bytes

VOLUME_ID = "57a17000"        # fixed: the serial is otherwise random
SIZE_KIB = 4096
PART_START = 2048             # sectors: the usual 1 MiB alignment
SECTOR = 512
FAT16_LBA = 0x0E


class DiskError(WaltportError):
    """The FAT image could not be built."""


def mbr(part_sectors: int, *, start: int = PART_START, part_type: int = FAT16_LBA) -> bytes:
    """A 512-byte MBR with one bootable partition (LBA only; CHS fields say "use LBA")."""
    entry = bytes([0x80, 0xFE, 0xFF, 0xFF, part_type, 0xFE, 0xFF, 0xFF]) + \
        start.to_bytes(4, "little") + part_sectors.to_bytes(4, "little")
    disk_id = int(VOLUME_ID, 16).to_bytes(4, "little")
    return b"\0" * 440 + disk_id + b"\0\0" + entry + b"\0" * 48 + b"\x55\xaa"


def mkfs_argv(image: Path, size_kib: int = SIZE_KIB) -> list[str]:
    return ["mkfs.vfat", "--invariant", "-i", VOLUME_ID, "-n", "WALTBOOT",
            "-h", str(PART_START), "-C", str(image), str(size_kib)]


def mcopy_argv(image: Path, src: Path, name: str) -> list[str]:
    return ["mcopy", "-m", "-o", "-i", str(image), str(src), f"::{name}"]


def _run(argv: list[str], package: str) -> None:
    if shutil.which(argv[0]) is None:
        raise ToolMissing(argv[0], package)
    res = subprocess.run(argv, capture_output=True, text=True, check=False,
                         env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    if res.returncode != 0:
        raise DiskError(f"{argv[0]} failed: {(res.stderr or res.stdout).strip()}")


def build_fat_image(files: dict[str, bytes], out: str | Path, *,
                    size_kib: int = SIZE_KIB) -> Path:
    """A disk image at ``out``: MBR + one FAT partition with ``files`` (name -> bytes)."""
    dest = Path(out)
    when = source_date_epoch()
    with tempfile.TemporaryDirectory(prefix="waltport-fat-") as tmp:
        image = Path(tmp) / "disk.img"
        _run(mkfs_argv(image, size_kib), "dosfstools")
        for name, data in sorted(files.items()):
            src = Path(tmp) / name
            src.write_bytes(data)
            os.utime(src, (when, when))
            _run(mcopy_argv(image, src, name), "mtools")
        fat = image.read_bytes()
        head = mbr(len(fat) // SECTOR).ljust(PART_START * SECTOR, b"\0")
        write_bytes(dest, head + fat)
    return dest
