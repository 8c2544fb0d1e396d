"""Kernel configuration: parse ``.config`` text, find an embedded one, judge WalT's needs.

WalT boots the node's root over NFS with an overlay: OVERLAY_FS, NFS_FS,
NFS_V3, ROOT_NFS, IP_PNP and IP_PNP_DHCP must be built in.  With an initrd
the kernel need not do it alone: modules (``=m``) are accepted when the
initrd carries them, and ROOT_NFS/IP_PNP (in-kernel DHCP and NFS root, which
cannot be modules) may be absent when the initrd mounts the root itself.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

REQUIRED = ("OVERLAY_FS", "NFS_FS", "NFS_V3", "ROOT_NFS", "IP_PNP", "IP_PNP_DHCP")
# Options an initrd can replace, and the module file that provides each.
MODULE_FILES = {"OVERLAY_FS": "overlay.ko", "NFS_FS": "nfs.ko", "NFS_V3": "nfsv3.ko"}
IN_KERNEL_ONLY = ("ROOT_NFS", "IP_PNP", "IP_PNP_DHCP")
IKCFG_START = b"IKCFG_ST"
CONFIG_MAX = 4 << 20   # compressed bytes read after the marker
_LINE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


def parse_config(text: str) -> dict[str, str]:
    """``CONFIG_X=v`` lines as {"X": "v"}; ``# CONFIG_X is not set`` as "n"."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if m := _LINE.match(line.strip()):
            out[m.group(1)] = m.group(2).strip('"')
        elif m := _UNSET.match(line.strip()):
            out[m.group(1)] = "n"
    return out


def embedded_config(kernel: bytes | Iterable[bytes]) -> str | None:
    """The IKCONFIG text inside an uncompressed kernel image, if any.

    ``kernel`` may be the bytes or chunks of them: a 200 MiB kernel is
    scanned a chunk at a time, never held whole.
    """
    chunks = iter((kernel,) if isinstance(kernel, bytes) else kernel)
    tail = b""
    for chunk in chunks:
        buf = tail + chunk
        pos = buf.find(IKCFG_START)
        if pos >= 0:
            return _inflate_config(buf[pos + len(IKCFG_START):], chunks)
        tail = buf[-(len(IKCFG_START) - 1):]
    return None


def _inflate_config(start: bytes, rest: Iterator[bytes]) -> str | None:
    """Gunzip the config that starts at ``start`` (at most CONFIG_MAX bytes of input)."""
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    fed = 0
    try:
        for chunk in itertools.chain((start,), rest):
            part = chunk[:CONFIG_MAX - fed]
            fed += len(part)
            out.append(dec.decompress(part))
            if dec.eof or fed >= CONFIG_MAX:
                break
    except zlib.error:
        return None
    return b"".join(out).decode("utf-8", "replace")


@dataclass(frozen=True)
class OptionVerdict:
    option: str
    value: str                   # y | m | n (absent is n)
    ok: bool
    why: str


def judge(config: dict[str, str], *, initrd_modules: frozenset[str] | None) -> list[OptionVerdict]:
    """Verdict per required option.

    ``initrd_modules`` is the set of ``.ko`` file names in the initrd the
    second stage loads, or None when it loads no initrd.
    """
    out = []
    for opt in REQUIRED:
        val = config.get(opt, "n")
        if val == "y":
            out.append(OptionVerdict(opt, val, True, "built in"))
        elif initrd_modules is None:
            out.append(OptionVerdict(opt, val, False, f"={val} and no initrd: must be =y"))
        elif val == "m":
            ko = MODULE_FILES.get(opt, "")
            found = ko in initrd_modules
            out.append(OptionVerdict(opt, val, found, f"module {ko} in the initrd" if found
                                     else f"=m but {ko or 'its module'} is not in the initrd"))
        elif opt in IN_KERNEL_ONLY:
            needs = {"nfs.ko", "nfsv3.ko"} <= initrd_modules
            out.append(OptionVerdict(opt, val, needs, "not set: the initrd does DHCP and the "
                                     "NFS mount (it carries nfs.ko, nfsv3.ko)" if needs else
                                     "not set and the initrd has no NFS modules to do it"))
        else:
            out.append(OptionVerdict(opt, val, False, "not set"))
    return out
