"""List the files of an initramfs (newc cpio, plain / gzip / xz, concatenated)."""

from __future__ import annotations

import lzma
import zlib

NEWC = (b"070701", b"070702")
HEADER_LEN = 110


def _decompress(data: bytes) -> bytes | None:
    if data[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
        except zlib.error:
            return None
    if data[:6] == b"\xfd7zXZ\x00":
        try:
            return lzma.LZMADecompressor().decompress(data)
        except lzma.LZMAError:
            return None
    return data if data[:6] in NEWC else None


def initrd_paths(data: bytes) -> tuple[str, ...] | None:
    """Paths in the initramfs, or None if the format is not one we read."""
    names: list[str] = []
    rest = data
    while rest:
        rest = rest.lstrip(b"\0")
        if not rest:
            break
        plain = _decompress(rest)
        if plain is None:
            return tuple(names) if names else None
        off, end_seen = 0, False
        while off + HEADER_LEN <= len(plain) and plain[off:off + 6] in NEWC:
            fields = [int(plain[off + 6 + 8 * i: off + 14 + 8 * i], 16) for i in range(13)]
            filesize, namesize = fields[6], fields[11]
            name_start = off + HEADER_LEN
            name = plain[name_start:name_start + namesize - 1].decode("utf-8", "replace")
            off = (name_start + namesize + 3) & ~3
            off = (off + filesize + 3) & ~3
            if name == "TRAILER!!!":
                end_seen = True
                break
            names.append(name.lstrip("./") if name not in (".", "./") else "")
        if plain is rest and end_seen:
            rest = rest[off:]
        else:
            # A compressed member runs to the end of the data (what the kernel
            # accepts after it, we cannot delimit without the stream length).
            break
    return tuple(n for n in names if n)


def module_names(paths: tuple[str, ...]) -> frozenset[str]:
    """Basenames of kernel modules (``.ko``, also ``.ko.xz``/``.ko.gz`` as ``.ko``)."""
    out = set()
    for p in paths:
        base = p.rsplit("/", 1)[-1]
        for ext in (".ko", ".ko.xz", ".ko.gz", ".ko.zst"):
            if base.endswith(ext):
                out.add(base[: -len(ext)] + ".ko")
    return frozenset(out)
