"""QEMU command lines for the virtual boards (pure: values in, argv out).

The serial console is QEMU's stdio (no monitor multiplexed on it), so a
:class:`waltport.lab.target.console.Console` can read it line by line and type on it.
``-no-reboot`` turns every reset/panic reboot into a QEMU exit: a board that
gives up (``|| reset``) ends the run instead of looping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from waltport.errors import WaltportError

UBOOT_QEMU_ARM64 = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
UBOOT_QEMU_ARM = Path("/usr/lib/u-boot/qemu_arm/u-boot.bin")
# Arch -> (QEMU system binary, CPU, Debian's U-Boot build for QEMU virt).
UBOOT_BOARDS = {"arm64": ("qemu-system-aarch64", "cortex-a57", UBOOT_QEMU_ARM64),
                "arm": ("qemu-system-arm", "cortex-a15", UBOOT_QEMU_ARM)}


class QemuError(WaltportError):
    """A virtual board cannot be described (bad MAC, missing firmware)."""


@dataclass(frozen=True)
class Board:
    """One virtual board run: machine kind, NIC, optional disk and firmware."""

    arch: str                         # arm64 | arm | x86_64 | x86 (a PC without long mode)
    tap: str | None                   # tap device in the lab netns; None: no NIC
    mac: str = "52:54:00:12:34:56"
    memory_mb: int = 512
    disk: Path | None = None          # raw FAT image (the SD-card analog)
    flash: Path | None = None         # arm64, arm: pflash bank 1 with U-Boot's environment
    firmware: Path | None = None      # arm64, arm: U-Boot binary; x86_64: NIC option ROM
    usb: Path | None = None           # PC: a USB key image it boots from (no NIC boot ROM)
    extra: tuple[str, ...] = field(default_factory=tuple)


def _check_mac(mac: str) -> str:
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p)
                                  for p in parts):
        raise QemuError(f"MAC {mac!r}: give six lower-case hex pairs (52:54:00:..)")
    if int(parts[0], 16) & 1:
        raise QemuError(f"MAC {mac!r} is a multicast address")
    return mac


def _common(board: Board) -> list[str]:
    argv = ["-m", str(board.memory_mb), "-accel", "tcg", "-no-reboot", "-nodefaults",
            "-display", "none", "-monitor", "none", "-serial", "stdio"]
    if board.tap is not None:
        argv += ["-netdev", f"tap,id=n0,ifname={board.tap},script=no,downscript=no"]
    return argv


def aarch64_argv(board: Board) -> list[str]:
    """``qemu-system-aarch64 -M virt`` running U-Boot, virtio-net (modern only).

    Legacy virtio-net makes U-Boot report MAC 52:52:52:52:52:52, hence
    ``disable-legacy=on``.
    """
    return _uboot_virt_argv(board)


def arm_argv(board: Board) -> list[str]:
    """``qemu-system-arm -M virt -cpu cortex-a15`` (ARMv7) running Debian's qemu_arm U-Boot.

    The 32-bit ARM board a porter of any ARMv7 board rehearses on: same
    devices as the arm64 one (virtio-net, virtio disk, pflash environment).
    """
    return _uboot_virt_argv(board)


def _uboot_virt_argv(board: Board) -> list[str]:
    system, cpu, default_bios = UBOOT_BOARDS[board.arch]
    bios = board.firmware or default_bios
    argv = [system, "-M", "virt", "-cpu", cpu, "-bios", str(bios), *_common(board)]
    if board.tap is not None:
        argv += ["-device",
                 f"virtio-net-pci,disable-legacy=on,netdev=n0,mac={_check_mac(board.mac)}"]
    if board.disk is not None:
        argv += ["-drive", f"if=none,id=sd0,format=raw,readonly=on,file={board.disk}",
                 "-device", "virtio-blk-pci,disable-legacy=on,drive=sd0"]
    if board.flash is not None:
        argv += ["-drive", f"if=pflash,unit=1,format=raw,file={board.flash}"]
    return argv + list(board.extra)


def _pc_argv(board: Board, system: list[str]) -> list[str]:
    if board.tap is None:
        raise QemuError(f"the {board.arch} board netboots: give it a tap device")
    nic = f"virtio-net-pci,netdev=n0,mac={_check_mac(board.mac)}"
    if board.disk is not None or board.flash is not None:
        raise QemuError(f"the {board.arch} board netboots from its NIC ROM: no disk or flash")
    if board.usb is not None:
        # The key alone must start the first stage: a NIC without its PXE ROM
        # cannot boot the board by another path and hide a bad key.
        return [*system, *_common(board), "-device", f"{nic},romfile=",
                *usb_key_argv(board.usb), *board.extra]
    if board.firmware is not None:
        nic += f",romfile={board.firmware}"
    argv = [*system, *_common(board), "-boot", "n", "-device", nic]
    return argv + list(board.extra)


def usb_key_argv(image: Path) -> list[str]:
    """A USB stick on an EHCI controller, first in the firmware's boot order.

    ``snapshot=on``: the board may write to its key; the image file stays as built.
    """
    return ["-device", "usb-ehci,id=ehci",
            "-drive", f"if=none,id=usbkey,format=raw,snapshot=on,file={image}",
            "-device", "usb-storage,bus=ehci.0,drive=usbkey,bootindex=0"]


def x86_64_argv(board: Board) -> list[str]:
    """``qemu-system-x86_64 -M pc`` network-booting with the iPXE ROM of its virtio NIC."""
    return _pc_argv(board, ["qemu-system-x86_64", "-M", "pc"])


def x86_argv(board: Board) -> list[str]:
    """A 32-bit PC: ``qemu-system-i386 -M pc -cpu qemu32`` (no long mode), same iPXE ROM.

    iPXE's ``cpuid --ext 29`` fails on this CPU, so the first stage picks the
    family's 32-bit sub-model, as on a real 32-bit node.
    """
    return _pc_argv(board, ["qemu-system-i386", "-M", "pc", "-cpu", "qemu32"])


BUILDERS = {"arm64": aarch64_argv, "arm": arm_argv, "x86_64": x86_64_argv, "x86": x86_argv}


def qemu_argv(board: Board) -> list[str]:
    """The QEMU command line for ``board`` (by arch)."""
    try:
        return BUILDERS[board.arch](board)
    except KeyError as err:
        raise QemuError(f"no virtual board for arch {board.arch!r}: "
                        f"the lab has {sorted(BUILDERS)}") from err


def firmware_problems(board: Board) -> list[str]:
    """Firmware files the command line names that are missing (checked before a run)."""
    uboot = UBOOT_BOARDS.get(board.arch)
    path = board.firmware or (uboot[2] if uboot else None)
    if path is not None and not path.is_file():
        pkg = "u-boot-qemu" if uboot else "ipxe-qemu"
        return [f"{path} is missing (Debian package {pkg})"]
    return []
