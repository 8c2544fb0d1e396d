"""One way to hash a file: sha256, streamed (images and kernels are large)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """The sha256 (hex) of a file, read in 1 MiB chunks. *Edge (reads the file).*"""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
