"""U-Boot legacy script images (``mkimage -T script``), in pure Python.

Layout: a 64-byte big-endian header, then a table of 32-bit big-endian sizes
ended by a zero word, then the script text.  Byte-compatible with
``mkimage -A ARCH -O linux -T script -C none -n NAME -d INPUT OUTPUT``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from waltport.errors import ScriptImageError

MAGIC = 0x27051956
HEADER = struct.Struct(">IIIIIIIBBBB32s")
HEADER_SIZE = HEADER.size  # 64
NAME_LEN = 32
OS_LINUX = 5
TYPE_SCRIPT = 6
COMP_NONE = 0

# U-Boot's IH_ARCH_* numbers, by waltport's (and mkimage's -A) arch names.
ARCHES: dict[str, int] = {"arm": 2, "x86": 3, "arm64": 22, "x86_64": 24}
ARCH_NAMES = {v: k for k, v in ARCHES.items()}
OS_NAMES = {OS_LINUX: "linux"}
TYPE_NAMES = {TYPE_SCRIPT: "script", 2: "kernel", 3: "ramdisk", 4: "multi", 5: "firmware",
              8: "flat_dt"}
COMP_NAMES = {0: "none", 1: "gzip", 2: "bzip2", 3: "lzma", 4: "lzo", 5: "lz4", 6: "zstd"}


@dataclass(frozen=True)
class ScriptImage:
    """A parsed script image (fields as in U-Boot's ``struct legacy_img_hdr``)."""

    magic: int
    header_crc: int
    time: int
    size: int
    load: int
    entry: int
    data_crc: int
    os: int
    arch: int
    type: int
    comp: int
    name: str
    script: bytes

    @property
    def arch_name(self) -> str:
        return ARCH_NAMES.get(self.arch, f"unknown({self.arch})")

    def to_json(self) -> dict[str, object]:
        return {
            "magic": f"0x{self.magic:08x}", "header_crc": f"0x{self.header_crc:08x}",
            "time": self.time, "size": self.size, "load": f"0x{self.load:08x}",
            "entry": f"0x{self.entry:08x}", "data_crc": f"0x{self.data_crc:08x}",
            "os": OS_NAMES.get(self.os, str(self.os)), "arch": self.arch_name,
            "type": TYPE_NAMES.get(self.type, str(self.type)),
            "comp": COMP_NAMES.get(self.comp, str(self.comp)), "name": self.name,
            "script_bytes": len(self.script),
        }


def build_script_image(script: bytes, *, arch: str, name: str, timestamp: int) -> bytes:
    """Return the bytes ``mkimage -A arch -O linux -T script -C none -n name`` writes."""
    if arch not in ARCHES:
        raise ScriptImageError("(build)", [f"unknown arch {arch!r}: one of {sorted(ARCHES)}"])
    raw_name = name.encode("utf-8")
    if len(raw_name) > NAME_LEN - 1:
        raise ScriptImageError("(build)", [f"name {name!r} is longer than {NAME_LEN - 1} bytes"])
    data = struct.pack(">II", len(script), 0) + script
    fields = [MAGIC, 0, timestamp & 0xFFFFFFFF, len(data), 0, 0, zlib.crc32(data), OS_LINUX,
              ARCHES[arch], TYPE_SCRIPT, COMP_NONE, raw_name.ljust(NAME_LEN, b"\0")]
    header = HEADER.pack(*fields)
    fields[1] = zlib.crc32(header)
    return HEADER.pack(*fields) + data


def parse_script_image(blob: bytes, source: str = "<image>") -> ScriptImage:
    """Validate and decode a script image; every defect is named at once."""
    if len(blob) < HEADER_SIZE:
        raise ScriptImageError(source, [f"file is {len(blob)} bytes, shorter than the "
                                        f"{HEADER_SIZE}-byte header"])
    (magic, hcrc, time, size, load, entry, dcrc, os_, arch, type_, comp,
     raw_name) = HEADER.unpack_from(blob)
    defects: list[str] = []
    if magic != MAGIC:
        defects.append(f"bad magic 0x{magic:08x} (expected 0x{MAGIC:08x}): not a legacy "
                       "U-Boot image")
    zeroed = bytearray(blob[:HEADER_SIZE])
    zeroed[4:8] = b"\0\0\0\0"
    if zlib.crc32(bytes(zeroed)) != hcrc:
        defects.append(f"header CRC mismatch: stored 0x{hcrc:08x}, computed "
                       f"0x{zlib.crc32(bytes(zeroed)):08x}")
    data = blob[HEADER_SIZE:HEADER_SIZE + size]
    if len(data) < size:
        defects.append(f"truncated: header says {size} data bytes, file has {len(data)}")
    elif zlib.crc32(data) != dcrc:
        defects.append(f"data CRC mismatch: stored 0x{dcrc:08x}, computed "
                       f"0x{zlib.crc32(data):08x}")
    if type_ != TYPE_SCRIPT:
        defects.append(f"image type {TYPE_NAMES.get(type_, type_)} is not script")
    if arch not in ARCH_NAMES:
        defects.append(f"unknown architecture number {arch}")
    if os_ != OS_LINUX:
        defects.append(f"OS {os_} is not linux")
    if comp != COMP_NONE:
        defects.append(f"compression {COMP_NAMES.get(comp, comp)}: waltport reads only "
                       "uncompressed scripts")
    script = b""
    if not defects and len(data) < 8:
        defects.append(f"payload is {len(data)} bytes: too short for a size table "
                       "(one size word and the ending zero word, 8 bytes)")
    elif not defects:
        script = _script_from_data(data, defects)
    if defects:
        raise ScriptImageError(source, defects)
    name = raw_name.split(b"\0", 1)[0].decode("utf-8", "replace")
    return ScriptImage(magic, hcrc, time, size, load, entry, dcrc, os_, arch, type_, comp,
                       name, script)


def _script_from_data(data: bytes, defects: list[str]) -> bytes:
    # Size table: 32-bit words up to a 0; the script is the first image after it.
    sizes: list[int] = []
    off = 0
    while off + 4 <= len(data):
        (word,) = struct.unpack_from(">I", data, off)
        off += 4
        if word == 0:
            break
        sizes.append(word)
    else:
        defects.append("size table has no terminating zero word")
        return b""
    if not sizes:
        defects.append("size table is empty: no script inside")
        return b""
    first = data[off:off + sizes[0]]
    if len(first) < sizes[0]:
        defects.append(f"script says {sizes[0]} bytes but only {len(first)} follow")
        return first
    # Every image but the last is padded to 4 bytes (U-Boot's image_multi_getimg).
    listed = sum((s + 3) & ~3 for s in sizes[:-1]) + sizes[-1]
    if listed != len(data) - off:
        defects.append(f"size table lists {listed} bytes of images ({', '.join(map(str, sizes))}) "
                       f"but {len(data) - off} follow it")
    return first
