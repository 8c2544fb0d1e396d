"""The SD-card analog: a FAT image holding ``boot.scr``, built without mounting.

``mkfs.vfat --invariant`` and ``mcopy -m`` (file times from the source, set
to ``SOURCE_DATE_EPOCH``) make the image the same bytes for the same files.
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


class DiskError(WaltportError):
    """The FAT image could not be built."""


def mkfs_argv(image: Path, size_kib: int = SIZE_KIB) -> list[str]:
    return ["mkfs.vfat", "--invariant", "-i", VOLUME_ID, "-n", "WALTBOOT", "-C", str(image),
            str(size_kib)]


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
    """A FAT image at ``out`` with ``files`` (name -> bytes) at its root; written atomically."""
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
        write_bytes(dest, image.read_bytes())
    return dest
