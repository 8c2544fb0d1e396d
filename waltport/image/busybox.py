"""Busybox applet list, read from the binary's bytes (it is usually another arch).

Busybox keeps its applet names as one NUL-separated, strcmp-sorted string
table (``applet_names``, generated at build time).  We look for the longest
sorted run of short NUL-terminated tokens in the binary; it contains the
applet names and nothing else.
"""

from __future__ import annotations

import re

REQUIRED_APPLETS = ("awk", "cat", "chroot", "ls", "mktemp", "mkfifo", "nc", "realpath",
                    "reboot", "rm", "sed", "sh", "sleep", "timeout", "uname")
_TOKEN_RUN = re.compile(rb"(?:[a-z0-9_.\[\]-]{1,32}\x00){20,}")


def applets(data: bytes) -> tuple[str, ...]:
    """Applet names found in a busybox binary (empty if it holds no applet table)."""
    best: list[str] = []
    for m in _TOKEN_RUN.finditer(data):
        tokens = [t.decode("ascii") for t in m.group(0).split(b"\0") if t]
        run = _longest_sorted(tokens)
        if len(run) > len(best):
            best = run
    return tuple(best)


def _longest_sorted(tokens: list[str]) -> list[str]:
    best: list[str] = []
    cur: list[str] = []
    for tok in tokens:
        if cur and tok <= cur[-1]:
            if len(cur) > len(best):
                best = cur
            cur = []
        cur.append(tok)
    return cur if len(cur) > len(best) else best


def missing_applets(found: tuple[str, ...], required: tuple[str, ...] = REQUIRED_APPLETS
                    ) -> tuple[str, ...]:
    """Required applets absent from ``found``."""
    have = set(found)
    return tuple(a for a in required if a not in have)


def applet_table(names: list[str]) -> bytes:
    """The bytes busybox's build writes for ``names`` (sorted, NUL-separated): for fixtures."""
    return b"".join(n.encode("ascii") + b"\0" for n in sorted(names))
