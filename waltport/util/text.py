"""Text from images and boards, made safe to show on a terminal."""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL and C1 controls: an ESC from a script
# image could move the cursor, retitle the window or hide the lines after it.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def for_terminal(text: str) -> str:
    """Pure: ``text`` with control characters shown as ``\\xNN`` (tabs and newlines kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def binary_reasons(data: bytes) -> list[str]:
    """Pure: why ``data`` does not look like script text (empty list: it does)."""
    reasons = []
    if b"\0" in data:
        reasons.append(f"{data.count(0)} NUL byte(s)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        reasons.append(f"not UTF-8 (byte {err.start})")
        return reasons
    controls = len(_CONTROL.findall(text.replace("\r", "").replace("\0", "")))
    if controls:
        reasons.append(f"{controls} control character(s)")
    return reasons
