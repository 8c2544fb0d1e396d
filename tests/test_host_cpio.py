"""The newc cpio writer: byte layout, determinism, and a real reader (busybox cpio)."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from waltport.host.cpio import CpioError, Entry, read_newc, write_newc
from waltport.util.epoch import EpochError

ENTRIES = [
    Entry.directory("bin"),
    Entry.file("bin/hello", b"#!/bin/sh\necho hi\n", 0o755),
    Entry.symlink("bin/sh", "hello"),
    Entry.directory("dev"),
    Entry.chardev("dev/console", 5, 1),
    Entry.file("etc/odd", b"x" * 5),
]


def test_header_layout_and_alignment() -> None:
    blob = write_newc([Entry.file("a", b"abc")], mtime=1700000000)
    assert blob[:6] == b"070701"
    fields = [int(blob[6 + 8 * i: 14 + 8 * i], 16) for i in range(13)]
    ino, mode, uid, gid, nlink, mtime, size = fields[:7]
    assert (ino, uid, gid, nlink, mtime, size) == (1, 0, 0, 1, 1700000000, 3)
    assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o644
    assert fields[11] == 2                      # "a" + NUL
    # header (110) + name (2) padded to 112, data 3 padded to 4
    assert blob[110:112] == b"a\0"
    assert blob[112:115] == b"abc" and blob[115:116] == b"\0"
    assert blob[116:122] == b"070701"
    assert len(blob) % 4 == 0
    assert b"TRAILER!!!\0" in blob[-128:]


def test_round_trip_sorted() -> None:
    back = read_newc(write_newc(reversed(ENTRIES), mtime=0))
    assert [e.path for e in back] == sorted(e.path for e in ENTRIES)
    by_path = {e.path: e for e in back}
    assert by_path["bin/hello"].data == b"#!/bin/sh\necho hi\n"
    assert by_path["bin/sh"].data == b"hello" and stat.S_ISLNK(by_path["bin/sh"].mode)
    assert by_path["dev/console"].rdev == (5, 1) and stat.S_ISCHR(by_path["dev/console"].mode)


def test_same_inputs_same_bytes_and_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    a = write_newc(ENTRIES)
    b = write_newc(list(reversed(ENTRIES)))
    assert a == b
    assert b"%08X" % 1234567890 in a
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    assert write_newc(ENTRIES) != a


@pytest.mark.parametrize("entry, message", [
    (Entry.file("/abs", b""), "relative path"),
    (Entry.file("a/../b", b""), "relative path"),
    (Entry("d", stat.S_IFDIR | 0o755, b"data"), "only files and symlinks"),
    (Entry("s", stat.S_IFSOCK | 0o755), "unsupported file type"),
])
def test_bad_entries_are_named(entry: Entry, message: str) -> None:
    with pytest.raises(CpioError, match=message):
        write_newc([entry])


def test_duplicate_is_an_error() -> None:
    with pytest.raises(CpioError, match="given twice"):
        write_newc([Entry.file("a", b"1"), Entry.file("a", b"2")])


def test_bad_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(EpochError, match="SOURCE_DATE_EPOCH"):
        write_newc(ENTRIES)


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox not installed")
def test_busybox_cpio_reads_it(tmp_path: Path) -> None:
    archive = tmp_path / "a.cpio"
    archive.write_bytes(write_newc([e for e in ENTRIES if e.path != "dev/console"]))
    listing = subprocess.run(["busybox", "cpio", "-t", "-F", str(archive)], capture_output=True,
                             text=True, check=True).stdout.split()
    assert sorted(listing) == sorted(e.path for e in ENTRIES if e.path != "dev/console")
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["busybox", "cpio", "-i", "-d", "-F", str(archive)], cwd=out, check=True,
                   capture_output=True)
    assert (out / "bin" / "hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (out / "bin" / "hello").stat().st_mode & 0o111
    assert (out / "bin" / "sh").is_symlink() and (out / "bin" / "sh").readlink() == Path("hello")
