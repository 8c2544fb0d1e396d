"""The SD-card analog: MBR + FAT partition, read back by the real mtools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from waltport.lab.disk import PART_START, SECTOR, build_fat_image, mbr


def test_mbr_layout() -> None:
    table = mbr(8192)
    assert len(table) == 512 and table[510:] == b"\x55\xaa"
    entry = table[446:462]
    assert entry[0] == 0x80 and entry[4] == 0x0E
    assert int.from_bytes(entry[8:12], "little") == PART_START
    assert int.from_bytes(entry[12:16], "little") == 8192


def test_image_has_the_file_and_is_reproducible(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    payload = b"\x27\x05\x19\x56" + b"script" * 100
    a = build_fat_image({"boot.scr": payload}, tmp_path / "a.img")
    b = build_fat_image({"boot.scr": payload}, tmp_path / "b.img")
    assert a.read_bytes() == b.read_bytes()
    offset = PART_START * SECTOR
    listing = subprocess.run(["mdir", "-b", "-i", f"{a}@@{offset}", "::"], capture_output=True,
                             text=True, check=True,
                             env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}).stdout
    assert "BOOT.SCR" in listing.upper()
    out = tmp_path / "back.scr"
    subprocess.run(["mcopy", "-i", f"{a}@@{offset}", "::boot.scr", str(out)], check=True,
                   env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
    assert out.read_bytes() == payload
