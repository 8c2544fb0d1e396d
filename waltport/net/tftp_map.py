"""WalT's TFTP map rules and file layout, as data and pure functions.

``remap(path, client_ip)`` applies tftpd-hpa style rules (``e`` stops, ``r``
rewrites the matched span and goes on; ``\\i`` = client IP, ``\\0`` = whole
match).  ``split_target`` turns a remapped path into what the virtual TFTP
root holds: ``nodes/<key>/tftp/<rest>`` (key = IP, MAC ``aa:bb..`` or
``aa-bb..``, or node name), ``images/<id>/fs/<rest>`` or ``pxe/<file>``.
``contained`` is the only function touching the filesystem: it resolves
symlinks and refuses anything outside the image root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from waltport.errors import WaltportError

ERR_NOT_FOUND, ERR_ACCESS = 1, 2


@dataclass(frozen=True)
class MapRule:
    """One rule: ``op`` is ``e`` (end if it matches) or ``r`` (rewrite the matched span)."""

    op: str
    pattern: str
    replacement: str = ""


WALT_RULES: tuple[MapRule, ...] = (
    MapRule("e", r".*undionly.*"),
    MapRule("r", r"boot/rpi-.*\.uboot", "start.uboot"),
    MapRule("r", r"boot/pc-x86-64.ipxe", "start.ipxe"),
    MapRule("r", r".*", r"nodes/\i/tftp/\0"),
)


class TftpRefused(WaltportError):
    """A request the TFTP server answers with an ERROR packet (``code`` per RFC 1350)."""

    def __init__(self, code: int, message: str, remapped: str | None = None) -> None:
        self.code = code
        self.remapped = remapped
        super().__init__(message)


@dataclass(frozen=True)
class Target:
    """Where a remapped path points: ``kind`` is node, image or pxe; ``rest`` is relative parts."""

    kind: str
    key: str
    rest: tuple[str, ...]


def _expand(replacement: str, match: re.Match[str], client_ip: str) -> str:
    out, i = [], 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\" and i + 1 < len(replacement):
            n = replacement[i + 1]
            if n == "i":
                out.append(client_ip)
            elif n.isdigit():
                out.append(match.group(int(n)) or "")
            else:
                out.append(n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def remap(path: str, client_ip: str, rules: tuple[MapRule, ...] = WALT_RULES) -> str:
    """Apply ``rules`` to a requested path (leading ``/`` or ``//`` accepted, as WalT must)."""
    current = path.lstrip("/")
    for rule in rules:
        m = re.search(rule.pattern, current)
        if m is None:
            continue
        if rule.op == "e":
            break
        current = current[:m.start()] + _expand(rule.replacement, m, client_ip) + current[m.end():]
    return current


def split_target(remapped: str) -> Target:
    """Classify a remapped path; empty/``.``/``..`` parts and NULs are refused here."""
    if "\0" in remapped or "\\" in remapped:
        raise TftpRefused(ERR_ACCESS, f"illegal character in {remapped!r}")
    parts = [p for p in remapped.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise TftpRefused(ERR_ACCESS, f"'..' is not allowed: {remapped!r}")
    if len(parts) >= 4 and parts[0] == "nodes" and parts[2] == "tftp":
        return Target("node", parts[1], tuple(parts[3:]))
    if len(parts) >= 4 and parts[0] == "images" and parts[2] == "fs":
        return Target("image", parts[1], tuple(parts[3:]))
    if len(parts) == 2 and parts[0] == "pxe":
        return Target("pxe", parts[1], ())
    raise TftpRefused(ERR_NOT_FOUND, f"nothing is served at {remapped!r}")


def contained(root: Path, rest: tuple[str, ...]) -> Path:
    """``root/rest`` with symlinks resolved, if it stays inside ``root`` and is a file."""
    real_root = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(real_root.joinpath(*rest)))
    if candidate != real_root and real_root not in candidate.parents:
        raise TftpRefused(ERR_ACCESS, f"{'/'.join(rest)} resolves outside the image root")
    if not candidate.is_file():
        raise TftpRefused(ERR_NOT_FOUND, f"file not found: {'/'.join(rest)}")
    return candidate
