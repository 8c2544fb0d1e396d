"""ELF and kernel headers, busybox applet tables: read from bytes, never executed."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import image_fixtures as fx
import pytest

from waltport.bootloader.scriptimage import build_script_image
from waltport.host.apt import fetch_busybox
from waltport.image.busybox import REQUIRED_APPLETS, applets, missing_applets
from waltport.image.elf import kernel_arch, parse_elf


def test_fixture_elf_header_fields() -> None:
    info = parse_elf(fx.make_elf("arm64", interp="/lib/ld-linux-aarch64.so.1",
                                 needed=("libc.so.6", "libz.so.1")))
    assert info is not None
    assert (info.arch, info.bits, info.little_endian) == ("arm64", 64, True)
    assert info.interpreter == "/lib/ld-linux-aarch64.so.1"
    assert info.needed == ("libc.so.6", "libz.so.1") and not info.static
    static = parse_elf(fx.make_elf("x86_64"))
    assert static is not None and static.static and static.arch == "x86_64"


def test_not_elf_and_truncated() -> None:
    assert parse_elf(b"#!/bin/sh\n" * 10) is None
    assert parse_elf(fx.make_elf()[:20]) is None


def test_host_binary_real_elf() -> None:
    # A real binary of the host (never run by this test: only its bytes are read).
    info = parse_elf(Path(shutil.which("ls") or "/bin/ls").read_bytes())
    assert info is not None and info.arch == "x86_64" and info.interpreter
    assert "libc.so.6" in info.needed


def test_kernel_headers() -> None:
    assert kernel_arch(fx.arm64_kernel()).arch == "arm64"
    assert kernel_arch(fx.x86_kernel(True)).arch == "x86_64"
    assert kernel_arch(fx.x86_kernel(False)).arch == "x86"
    assert kernel_arch(gzip.compress(fx.arm64_kernel(), mtime=0)).format == "gzip+arm64 Image"
    assert kernel_arch(b"\0" * 4096).arch is None
    script = build_script_image(b"echo", arch="arm", name="x", timestamp=0)
    assert kernel_arch(script).format == "uImage"


def test_real_busybox_applets_match_its_own_list() -> None:
    # Debian's busybox package of the host: its applet table, read from bytes,
    # equals what the binary itself lists (ground truth from the packaged list).
    path = Path("/bin/busybox")
    if not path.is_file():
        pytest.skip("busybox not installed (scripts/bootstrap.sh installs it)")
    found = applets(path.read_bytes())
    assert len(found) > 100
    assert missing_applets(found) == ()
    assert list(found) == sorted(found)


def test_debian_busybox_static_of_other_arch() -> None:
    # Debian's real arm64 busybox-static (fetched once into the cache, never run).
    data = fetch_busybox("arm64").read_bytes()
    info = parse_elf(data)
    assert info is not None and info.arch == "arm64" and info.static
    assert missing_applets(applets(data), REQUIRED_APPLETS) == ()


def test_fixture_busybox_missing_applet() -> None:
    data = fx.busybox(applets=["cat", "ls", "sh", "ash", "awk", "chroot", "mktemp", "mkfifo",
                               "nc", "realpath", "reboot", "rm", "sed", "sleep", "uname",
                               "echo", "grep", "head", "ln", "mkdir", "mount", "umount",
                               "tr", "cp", "date", "chmod"])
    assert missing_applets(applets(data)) == ("timeout",)
