"""Script images: byte-identical to u-boot-tools' mkimage; defects named as dumpimage finds."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from waltport.bootloader import scriptimage as si
from waltport.bootloader.scriptimage import (
    ARCHES,
    HEADER_SIZE,
    build_script_image,
    parse_script_image,
)
from waltport.cli import main
from waltport.errors import ScriptImageError

pytestmark = pytest.mark.skipif(shutil.which("mkimage") is None, reason="u-boot-tools missing")

SCRIPTS = {
    "short": b"echo hi\n",
    "odd-length": b"setenv a b\nsetenv c d e\n",  # not a multiple of 4 bytes
    "no-newline": b"dhcp || reset",
    "utf8": "echo héllo\n".encode(),
    "long": b"".join(b"setenv v%d %s\n" % (i, b"x" * (i % 37)) for i in range(2000)),
}


def real_mkimage(tmp: Path, script: bytes, arch: str, name: str, epoch: int) -> bytes:
    src, out = tmp / "in.txt", tmp / "out.img"
    src.write_bytes(script)
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    subprocess.run(["mkimage", "-A", arch, "-O", "linux", "-T", "script", "-C", "none",
                    "-n", name, "-d", str(src), str(out)], check=True, env=env,
                   capture_output=True)
    return out.read_bytes()


@pytest.mark.parametrize("arch", sorted(ARCHES))
@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_byte_identical_to_mkimage(tmp_path: Path, arch: str, kind: str) -> None:
    script = SCRIPTS[kind]
    ref = real_mkimage(tmp_path, script, arch, "start.uboot", 1_700_000_000)
    assert build_script_image(script, arch=arch, name="start.uboot",
                              timestamp=1_700_000_000) == ref


def test_name_lengths_match_mkimage(tmp_path: Path) -> None:
    for name in ["", "a", "x" * 31]:
        ref = real_mkimage(tmp_path, b"echo\n", "arm64", name, 5)
        assert build_script_image(b"echo\n", arch="arm64", name=name, timestamp=5) == ref


def test_cli_mkimage_matches_and_dumpimage_reads(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    src = tmp_path / "s.txt"
    src.write_bytes(SCRIPTS["odd-length"])
    assert main(["mkimage", "--arch", "arm", "--name", "boot.scr", str(src),
                 str(tmp_path / "mine.img")]) == 0
    ref = real_mkimage(tmp_path, SCRIPTS["odd-length"], "arm", "boot.scr", 1234567890)
    assert (tmp_path / "mine.img").read_bytes() == ref
    # u-boot-tools' dumpimage accepts ours and reports the same header.
    listing = subprocess.run(["dumpimage", "-l", str(tmp_path / "mine.img")],
                             capture_output=True, text=True, check=True).stdout
    assert "ARM Linux Script (uncompressed)" in listing
    assert "boot.scr" in listing
    capsys.readouterr()
    assert main(["dumpimage", str(tmp_path / "mine.img")]) == 0
    out = capsys.readouterr().out
    assert "setenv c d e" in out and "arch: arm" in out


def test_roundtrip_fields() -> None:
    blob = build_script_image(b"echo x\n", arch="x86_64", name="n", timestamp=42)
    img = parse_script_image(blob)
    assert img.script == b"echo x\n"
    assert (img.arch_name, img.time, img.name, img.type) == ("x86_64", 42, "n", 6)
    assert img.size == len(blob) - HEADER_SIZE


def _defects(blob: bytes) -> tuple[str, ...]:
    with pytest.raises(ScriptImageError) as exc:
        parse_script_image(blob, "f.img")
    return exc.value.defects


def _dumpimage_rejects(tmp: Path, blob: bytes) -> bool:
    """u-boot-tools' verdict: extracting the script verifies header and data CRCs."""
    p = tmp / "bad.img"
    p.write_bytes(blob)
    res = subprocess.run(["dumpimage", "-T", "script", "-p", "0", "-o", str(tmp / "x"), str(p)],
                         capture_output=True, text=True, check=False)
    return res.returncode != 0


def test_corrupt_images_named(tmp_path: Path) -> None:
    good = build_script_image(b"echo hello\n", arch="arm64", name="s", timestamp=1)
    # A flipped bit in the header: header CRC.
    bad = bytearray(good)
    bad[20] ^= 1
    assert any("header CRC" in d for d in _defects(bytes(bad)))
    assert _dumpimage_rejects(tmp_path, bytes(bad))
    # A flipped bit in the script: data CRC.
    bad = bytearray(good)
    bad[-2] ^= 1
    assert any("data CRC" in d for d in _defects(bytes(bad)))
    assert _dumpimage_rejects(tmp_path, bytes(bad))
    assert not _dumpimage_rejects(tmp_path, good)
    # Truncated.
    assert any("truncated" in d for d in _defects(good[:-3]))
    assert any("shorter than" in d for d in _defects(good[:10]))
    # Wrong magic.
    bad = bytearray(good)
    bad[0] = 0
    assert any("magic" in d for d in _defects(bytes(bad)))
    assert _dumpimage_rejects(tmp_path, bytes(bad))


def test_wrong_type_is_named(tmp_path: Path) -> None:
    src = tmp_path / "k"
    src.write_bytes(b"\0" * 64)
    out = tmp_path / "k.img"
    subprocess.run(["mkimage", "-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "none",
                    "-a", "0", "-e", "0", "-n", "k", "-d", str(src), str(out)],
                   check=True, capture_output=True)
    assert any("not script" in d for d in _defects(out.read_bytes()))


def test_multiple_defects_at_once() -> None:
    good = bytearray(build_script_image(b"echo\n", arch="arm64", name="s", timestamp=1))
    good[28] = 99  # os
    good[30] = 1   # type kernel
    # fix the header CRC so only the field defects remain
    good[4:8] = b"\0\0\0\0"
    good[4:8] = zlib.crc32(bytes(good[:HEADER_SIZE])).to_bytes(4, "big")
    defects = _defects(bytes(good))
    assert len(defects) >= 2


def test_cli_dumpimage_corrupt_exit_code(tmp_path: Path, capsys) -> None:
    p = tmp_path / "bad.img"
    p.write_bytes(b"not an image at all" * 5)
    assert main(["dumpimage", str(p)]) == 2
    assert "bad magic" in capsys.readouterr().err
    assert main(["dumpimage", str(tmp_path / "missing")]) == 2


def _image_with_payload(data: bytes, name: bytes = b"t") -> bytes:
    """A script image header with valid CRCs around any ``data``."""
    fields = [si.MAGIC, 0, 0, len(data), 0, 0, zlib.crc32(data), si.OS_LINUX,
              si.ARCHES["arm64"], si.TYPE_SCRIPT, si.COMP_NONE, name.ljust(32, b"\0")]
    fields[1] = zlib.crc32(si.HEADER.pack(*fields))
    return si.HEADER.pack(*fields) + data


@pytest.mark.parametrize("size", range(8))
def test_payload_too_short_for_a_size_table(size: int) -> None:
    """Issue 14 item 9: a payload of 0-7 bytes was accepted as an empty script."""
    with pytest.raises(ScriptImageError, match=f"payload is {size} bytes: too short"):
        si.parse_script_image(_image_with_payload(b"\0" * size))


@pytest.mark.parametrize("payload,listed,follow", [
    (struct.pack(">II", 4, 0) + b"echo hi\n", 4, 8),              # table says less
    (struct.pack(">III", 3, 2, 0) + b"abc\0de" + b"extra", 6, 11),   # bytes left over
])
def test_size_table_must_match_the_payload(payload: bytes, listed: int, follow: int) -> None:
    with pytest.raises(ScriptImageError, match=f"lists {listed} bytes .* but {follow} follow"):
        si.parse_script_image(_image_with_payload(payload))


def test_dumpimage_never_prints_escape_sequences(tmp_path: Path, capsys) -> None:
    script = b"echo hi\n\x1b]0;owned\x07\x1b[2J\x1b[8mhidden\n"
    img = tmp_path / "evil.img"
    img.write_bytes(_image_with_payload(struct.pack(">II", len(script), 0) + script,
                                        name=b"n\x1b[31m"))
    assert main(["dumpimage", str(img)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x1b[8mhidden\n" in out and "n\\x1b[31m" in out
    assert main(["dumpimage", str(img), "--json"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_mkimage_warns_on_binary_input(tmp_path: Path, capsys) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4096)          # 1 MiB of binary data
    assert main(["mkimage", "--arch", "arm64", "--name", "n", str(blob),
                 str(tmp_path / "o.img")]) == 0
    err = capsys.readouterr().err
    assert "does not look like a U-Boot script" in err and "NUL" in err
    text = tmp_path / "s.txt"
    text.write_text("echo hi\r\n\tsetenv a b\n")
    assert main(["mkimage", "--arch", "arm64", "--name", "n", str(text),
                 str(tmp_path / "t.img")]) == 0
    assert capsys.readouterr().err == ""
