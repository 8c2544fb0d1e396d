"""ELF headers and kernel image headers, read as bytes (never executed).

``parse_elf`` gives machine, class, linkage (static/dynamic), interpreter and
needed libraries; ``kernel_arch`` tells a Linux kernel image's architecture
from its boot header (arm64 ``Image``, arm ``zImage``, x86 ``bzImage``,
legacy uImage), gzip-wrapped or not.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
# e_machine -> waltport arch names (the profile's arch vocabulary).
MACHINES = {0x28: "arm", 0xB7: "arm64", 0x03: "x86", 0x3E: "x86_64"}
PT_DYNAMIC, PT_INTERP = 2, 3
DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
# U-Boot IH_ARCH numbers used by uImage kernels.
UIMAGE_ARCH = {2: "arm", 3: "x86", 22: "arm64", 24: "x86_64"}


@dataclass(frozen=True)
class ElfInfo:
    """What an ELF header says about a binary."""

    machine: int
    arch: str | None            # None for machines waltport does not know
    bits: int                   # 32 or 64
    little_endian: bool
    etype: int                  # 2 = EXEC, 3 = DYN (PIE or library)
    interpreter: str | None     # PT_INTERP, e.g. /lib/ld-linux-aarch64.so.1
    dynamic: bool               # has PT_DYNAMIC
    needed: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()  # DT_RUNPATH (else DT_RPATH) directories, ``$ORIGIN`` kept

    @property
    def static(self) -> bool:
        return self.interpreter is None and not self.needed

    def describe(self) -> str:
        link = "static" if self.static else f"dynamic ({self.interpreter})"
        return f"ELF{self.bits} {self.arch or hex(self.machine)} {link}"


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def parse_elf(data: bytes) -> ElfInfo | None:
    """Decode an ELF header from the file's bytes; None if it is not a (whole) ELF."""
    if len(data) < 52 or not is_elf(data) or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    bits = 32 if data[4] == 1 else 64
    e = "<" if data[5] == 1 else ">"
    try:
        if bits == 64:
            etype, machine = struct.unpack_from(e + "HH", data, 16)
            phoff, = struct.unpack_from(e + "Q", data, 32)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
        else:
            etype, machine = struct.unpack_from(e + "HH", data, 16)
            phoff, = struct.unpack_from(e + "I", data, 28)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
        segs = []
        for i in range(phnum):
            off = phoff + i * phentsize
            if bits == 64:
                ptype, _fl, poff, _va, _pa, pfilesz = struct.unpack_from(e + "IIQQQQ", data, off)
            else:
                ptype, poff, _va, _pa, pfilesz = struct.unpack_from(e + "IIIII", data, off)
            segs.append((ptype, poff, pfilesz))
    except struct.error:
        return None
    interp = None
    dynamic = False
    needed: list[str] = []
    runpath: list[str] = []
    for ptype, poff, size in segs:
        if ptype == PT_INTERP:
            interp = data[poff:poff + size].split(b"\0", 1)[0].decode("ascii", "replace")
        elif ptype == PT_DYNAMIC:
            dynamic = True
            needed, runpath = _needed(data, e, bits, poff, size)
    return ElfInfo(machine, MACHINES.get(machine), bits, e == "<", etype, interp, dynamic,
                   tuple(needed), tuple(runpath))


def _needed(data: bytes, e: str, bits: int, off: int, size: int) -> tuple[list[str], list[str]]:
    """DT_NEEDED names and the DT_RUNPATH (else DT_RPATH) directories."""
    # DT_STRTAB is a virtual address; without section headers we map it back
    # through the load segments: read them again with vaddr this time.
    fmt = e + ("qQ" if bits == 64 else "iI")
    step = struct.calcsize(fmt)
    tags: list[tuple[int, int]] = []
    for pos in range(off, min(off + size, len(data)) - step + 1, step):
        tag, val = struct.unpack_from(fmt, data, pos)
        if tag == 0:
            break
        tags.append((tag, val))
    strtab = next((v for t, v in tags if t == DT_STRTAB), None)
    if strtab is None:
        return [], []
    file_off = _vaddr_to_offset(data, e, bits, strtab)
    if file_off is None:
        return [], []

    def string(v: int) -> str:
        return data[file_off + v:file_off + v + 4096].split(b"\0", 1)[0].decode(
            "ascii", "replace")

    needed = [string(v) for t, v in tags if t == DT_NEEDED]
    # ld.so ignores DT_RPATH when DT_RUNPATH is present.
    paths = [string(v) for t, v in tags if t == DT_RUNPATH] or \
        [string(v) for t, v in tags if t == DT_RPATH]
    return needed, [d for p in paths for d in p.split(":") if d]


def _vaddr_to_offset(data: bytes, e: str, bits: int, vaddr: int) -> int | None:
    if bits == 64:
        phoff, = struct.unpack_from(e + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
        fmt = e + "IIQQQQ"
    else:
        phoff, = struct.unpack_from(e + "I", data, 28)
        phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
        fmt = e + "IIIIII"
    for i in range(phnum):
        if bits == 64:
            ptype, _f, poff, pva, _pa, filesz = struct.unpack_from(fmt, data, phoff + i * phentsize)
        else:
            ptype, poff, pva, _pa, filesz, _m = struct.unpack_from(fmt, data, phoff + i * phentsize)
        if ptype == 1 and pva <= vaddr < pva + filesz:
            return int(poff + vaddr - pva)
    return None


@dataclass(frozen=True)
class KernelInfo:
    """A kernel image's format and architecture, with the evidence read."""

    format: str
    arch: str | None
    evidence: str


def kernel_arch(data: bytes) -> KernelInfo:
    """Architecture of a kernel image from its header (first ~64 KiB are enough)."""
    if data[:2] == b"\x1f\x8b":
        try:
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 1 << 16)
        except (zlib.error, gzip.BadGzipFile):
            return KernelInfo("gzip", None, "gzip data that does not decompress")
        info = kernel_arch(inner)
        return KernelInfo("gzip+" + info.format, info.arch, info.evidence)
    if len(data) >= 0x40 and data[0x38:0x3C] == b"ARM\x64":
        return KernelInfo("arm64 Image", "arm64", "magic 'ARM\\x64' at 0x38")
    if len(data) >= 0x30 and struct.unpack_from("<I", data, 0x24)[0] == 0x016F2818:
        return KernelInfo("arm zImage", "arm", "zImage magic 0x016f2818 at 0x24")
    if len(data) >= 0x240 and data[0x202:0x206] == b"HdrS":
        version, = struct.unpack_from("<H", data, 0x206)
        xload = struct.unpack_from("<H", data, 0x236)[0] if version >= 0x20C else 0
        arch = "x86_64" if xload & 1 else "x86"
        return KernelInfo("x86 bzImage", arch, f"'HdrS' at 0x202, boot protocol "
                          f"{version >> 8}.{version & 0xFF}, xloadflags 0x{xload:x}")
    if len(data) >= 64 and struct.unpack_from(">I", data, 0)[0] == 0x27051956:
        arch_num = data[29]
        return KernelInfo("uImage", UIMAGE_ARCH.get(arch_num), f"uImage arch {arch_num}")
    elf = parse_elf(data)
    if elf is not None:
        return KernelInfo("ELF vmlinux", elf.arch, elf.describe())
    return KernelInfo("unknown", None, "no known kernel header (Image, zImage, bzImage, "
                      "uImage, ELF)")
