"""QEMU command lines: built by pure functions, checked on the parsed argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.lab.virtual.qemu import Board, QemuError, firmware_problems, qemu_argv


def _opt(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_arm64_board() -> None:
    argv = qemu_argv(Board(arch="arm64", tap="tap3", mac="52:54:00:00:00:01",
                           disk=Path("/x/sd.img")))
    assert argv[0] == "qemu-system-aarch64"
    assert _opt(argv, "-M") == ["virt"] and _opt(argv, "-cpu") == ["cortex-a57"]
    assert _opt(argv, "-accel") == ["tcg"] and "-no-reboot" in argv
    assert _opt(argv, "-bios") == ["/usr/lib/u-boot/qemu_arm64/u-boot.bin"]
    assert _opt(argv, "-serial") == ["stdio"] and _opt(argv, "-monitor") == ["none"]
    assert _opt(argv, "-netdev") == ["tap,id=n0,ifname=tap3,script=no,downscript=no"]
    devices = _opt(argv, "-device")
    # legacy virtio-net makes U-Boot report 52:52:52:52:52:52 whatever mac= says
    assert "virtio-net-pci,disable-legacy=on,netdev=n0,mac=52:54:00:00:00:01" in devices
    assert "virtio-blk-pci,disable-legacy=on,drive=sd0" in devices
    assert _opt(argv, "-drive") == ["if=none,id=sd0,format=raw,readonly=on,file=/x/sd.img"]


def test_arm_board_is_an_armv7_virt_with_debians_qemu_arm_uboot() -> None:
    argv = qemu_argv(Board(arch="arm", tap="tap6", mac="52:54:00:59:00:01",
                           disk=Path("/x/sd.img")))
    assert argv[0] == "qemu-system-arm"
    assert _opt(argv, "-M") == ["virt"] and _opt(argv, "-cpu") == ["cortex-a15"]
    assert _opt(argv, "-bios") == ["/usr/lib/u-boot/qemu_arm/u-boot.bin"]
    assert "virtio-net-pci,disable-legacy=on,netdev=n0,mac=52:54:00:59:00:01" in \
        _opt(argv, "-device")


def test_arm64_flash_environment() -> None:
    argv = qemu_argv(Board(arch="arm64", tap="t", flash=Path("/x/flash1.img")))
    assert _opt(argv, "-drive") == ["if=pflash,unit=1,format=raw,file=/x/flash1.img"]


def test_x86_board() -> None:
    argv = qemu_argv(Board(arch="x86_64", tap="tap4", mac="52:54:00:00:00:02", memory_mb=256))
    assert argv[0] == "qemu-system-x86_64"
    assert _opt(argv, "-M") == ["pc"] and _opt(argv, "-boot") == ["n"]
    assert _opt(argv, "-m") == ["256"] and _opt(argv, "-accel") == ["tcg"]
    assert _opt(argv, "-device") == ["virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02"]


def test_pc_boots_its_usb_key_without_a_nic_rom() -> None:
    argv = qemu_argv(Board(arch="x86_64", tap="tap4", mac="52:54:00:00:00:02",
                           usb=Path("/x/usb.img")))
    assert "-boot" not in argv
    devices = _opt(argv, "-device")
    assert "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02,romfile=" in devices
    assert "usb-storage,bus=ehci.0,drive=usbkey,bootindex=0" in devices
    assert _opt(argv, "-drive") == ["if=none,id=usbkey,format=raw,snapshot=on,file=/x/usb.img"]


def test_32bit_pc_has_no_long_mode() -> None:
    # pc-x86-32: iPXE's `cpuid --ext 29` must fail, so the CPU is qemu32 on a 32-bit system.
    argv = qemu_argv(Board(arch="x86", tap="tap5", mac="52:54:00:58:00:00"))
    assert argv[0] == "qemu-system-i386"
    assert _opt(argv, "-cpu") == ["qemu32"] and _opt(argv, "-boot") == ["n"]
    assert _opt(argv, "-device") == ["virtio-net-pci,netdev=n0,mac=52:54:00:58:00:00"]


def test_arm64_without_nic_for_the_crosscheck() -> None:
    argv = qemu_argv(Board(arch="arm64", tap=None))
    assert "-netdev" not in argv and "-device" not in argv


@pytest.mark.parametrize("board, message", [
    (Board(arch="arm64", tap="t", mac="52:54:00:00:00"), "six lower-case hex pairs"),
    (Board(arch="arm64", tap="t", mac="53:54:00:00:00:01"), "multicast"),
    (Board(arch="x86_64", tap="t", disk=Path("d")), "no disk"),
    (Board(arch="x86_64", tap="t", flash=Path("f")), "no disk or flash"),
    (Board(arch="x86_64", tap=None), "tap device"),
    (Board(arch="x86", tap="t", disk=Path("d")), "no disk"),
    (Board(arch="riscv64", tap="t"), "no virtual board for arch 'riscv64'"),
])
def test_bad_boards(board: Board, message: str) -> None:
    with pytest.raises(QemuError, match=message):
        qemu_argv(board)


def test_firmware_problems(tmp_path: Path) -> None:
    missing = Board(arch="arm64", tap="t", firmware=tmp_path / "u-boot.bin")
    assert "u-boot-qemu" in firmware_problems(missing)[0]
    (tmp_path / "u-boot.bin").write_bytes(b"x")
    assert firmware_problems(missing) == []
    arm = Board(arch="arm", tap="t", firmware=tmp_path / "qemu_arm.bin")
    assert "u-boot-qemu" in firmware_problems(arm)[0]
