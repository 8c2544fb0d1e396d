"""*Pure.* What goes on a boot medium, and where: the layout plan of one board model.

A plan names every file by its source (a Debian package and the path inside
it, a file the porter supplies, or text waltport generates); the edge
(:mod:`waltport.media.build`) fetches the bytes.  One planner per media kind,
in :data:`PLANNERS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from waltport.errors import WaltportError
from waltport.host.apt import debian_arch
from waltport.profile.bootfiles import kernel_arch_of
from waltport.profile.media import SECTOR, MediaBinary
from waltport.profile.model import Bootloader, Profile

FAT_LBA = 0x0E              # FAT16, LBA addressed
RPI_FIRMWARE = "raspi-firmware"
RPI_UBOOT = "u-boot-rpi"
IPXE = "ipxe"


class MediaError(WaltportError):
    """The medium cannot be planned or built (bad model, missing package or file)."""

    exit_code = 2


@dataclass(frozen=True)
class Source:
    """Where a file's bytes come from."""

    origin: Literal["deb", "kernel-dtb", "host-deb", "porter", "waltport"]
    package: str = "waltport"    # Debian package (or "porter", "waltport")
    arch: str = ""               # Debian arch of the package ("all": arch-independent;
                                 # kernel-dtb: the Debian kernel flavour, e.g. arm64, rpi)
    path: str = ""               # inside the package / relative to the profile


@dataclass(frozen=True)
class FileSpec:
    """One file of the FAT partition."""

    dest: str                    # path on the partition, "/"-separated
    source: Source
    data: bytes | None = None    # generated text (config.txt, boot.scr, ...)
    non_free: bool = False


@dataclass(frozen=True)
class RawSpec:
    """Bytes written at a sector outside the partition (U-Boot SPL, MBR boot code)."""

    name: str
    sector: int
    source: Source


@dataclass(frozen=True)
class MediaPlan:
    kind: str
    model: str
    image_mib: int
    partition_start: int                 # sectors
    files: tuple[FileSpec, ...]
    raw: tuple[RawSpec, ...] = ()
    bios_boot: bool = False              # syslinux in the partition + MBR boot code


@dataclass(frozen=True)
class RpiBoard:
    """A Raspberry Pi model on a card: its firmware, its U-Boot builds, its dtb."""

    firmware: tuple[str, ...]
    # Kernel arch (arm64 | arm) -> (Debian arch of u-boot-rpi, build directory in it):
    # U-Boot runs in the state the model's kernel needs (config.txt arm_64bit).
    uboot: dict[str, tuple[str, str]]
    # Fallbacks when the profile's boot_files do not name them: the dtb
    # (upstream name, path in Debian's kernel package) and the kernel flavour.
    dtb: str
    flavour: str
    # Dtbs the firmware may ask for besides the model's (board revisions).
    extra_dtbs: tuple[str, ...] = ()


PI1_FIRMWARE = ("bootcode.bin", "start.elf", "fixup.dat")   # Pi 1, 2 and 3
PI4_FIRMWARE = ("start4.elf", "fixup4.dat")   # the Pi 4's boot code is in its EEPROM
PI3_UBOOT = {"arm64": ("arm64", "rpi_3"), "arm": ("armhf", "rpi_3_32b")}
PI4_UBOOT = {"arm64": ("arm64", "rpi_4"), "arm": ("armhf", "rpi_4_32b")}
# Debian 12's u-boot-rpi: armel rpi (Pi 1), armhf rpi_2 / rpi_3_32b / rpi_4_32b,
# arm64 rpi_3 / rpi_4.  The dtb names are those U-Boot's rpi board code puts
# in ${fdtfile} (mainline names: config.txt sets upstream_kernel=1).
RPI_BOARDS = {
    "rpi-b": RpiBoard(PI1_FIRMWARE, {"arm": ("armel", "rpi")}, "bcm2835-rpi-b.dtb", "rpi",
                      ("bcm2835-rpi-b-rev2.dtb",)),
    "rpi-b-plus": RpiBoard(PI1_FIRMWARE, {"arm": ("armel", "rpi")}, "bcm2835-rpi-b-plus.dtb",
                           "rpi"),
    "rpi-2-b": RpiBoard(PI1_FIRMWARE, {"arm": ("armhf", "rpi_2")}, "bcm2836-rpi-2-b.dtb",
                        "armmp"),
    "rpi-3-b": RpiBoard(PI1_FIRMWARE, PI3_UBOOT, "broadcom/bcm2837-rpi-3-b.dtb", "arm64"),
    "rpi-3-b-plus": RpiBoard(PI1_FIRMWARE, PI3_UBOOT, "broadcom/bcm2837-rpi-3-b-plus.dtb",
                             "arm64"),
    "rpi-4-b": RpiBoard(PI4_FIRMWARE, PI4_UBOOT, "broadcom/bcm2711-rpi-4-b.dtb", "arm64"),
    "rpi-400": RpiBoard(PI4_FIRMWARE, PI4_UBOOT, "broadcom/bcm2711-rpi-400.dtb", "arm64"),
}
RPI_UNSUPPORTED = {
    "rpi-5-b": "Debian 12's U-Boot (2023.01) does not support the Raspberry Pi 5",
}


def default_kind(profile: Profile) -> str:
    """The media kind of a profile: its ``media.kind``, else by bootloader."""
    if profile.media.kind is not None:
        return profile.media.kind
    return "pc-usb" if profile.bootloader is Bootloader.IPXE else "uboot"


def pick_model(profile: Profile, model: str | None, *, family_wide: bool = False) -> str:
    """The model the medium is for: ``model`` if the profile lists it; the only one by default.

    A ``family_wide`` medium (the first stage detects the model on the board)
    serves every model: without ``model`` it is named by all of them.
    """
    models = profile.all_models
    if model is None:
        if len(models) == 1 or family_wide:
            return ",".join(models)
        raise MediaError(f"profile {profile.name} is a family: give --model "
                         f"(one of {', '.join(models)})")
    if model not in models:
        raise MediaError(f"model {model!r} is not in profile {profile.name} "
                         f"(it lists {', '.join(models)})")
    return model


def config_txt(model: str, arm64: bool) -> str:
    """The Raspberry Pi firmware's config.txt for U-Boot on ``model``."""
    lines = [f"# waltport: Raspberry Pi firmware settings for U-Boot on {model}",
             "# U-Boot (kernel=) runs boot.scr, WalT's network first stage.",
             "kernel=u-boot.bin",
             "# UART console on the GPIO header (U-Boot's and the kernel's console)",
             "enable_uart=1",
             "# dtb names as in mainline Linux, as U-Boot's ${fdtfile} names them",
             "upstream_kernel=1"]
    if arm64:
        lines += ["# the model's kernel is arm64: start the CPU (and U-Boot) in 64-bit mode",
                  "arm_64bit=1"]
    return "\n".join(lines) + "\n"


def _generated(dest: str, data: bytes) -> FileSpec:
    return FileSpec(dest, Source("waltport"), data)


def rpi_kernel(profile: Profile, model: str, board: RpiBoard) -> tuple[str, str, str]:
    """*Pure.* (kernel arch, Debian kernel flavour, dtb path in its package) of ``model``.

    From the profile's ``boot_files`` (the image's second stage boots the same
    kernel and dtb), else from :data:`RPI_BOARDS`.
    """
    group = profile.boot_group(model)
    if group is None:
        return str(profile.arch_of(model)), board.flavour, board.dtb
    dtb = group.dtb_of(model)
    flavour = group.kernel if isinstance(group.kernel, str) else board.flavour
    return (kernel_arch_of(group) or str(profile.arch_of(model)), flavour,
            dtb if isinstance(dtb, str) else board.dtb)


def plan_raspberrypi(profile: Profile, model: str, artifacts: dict[str, bytes]) -> MediaPlan:
    """Firmware, config.txt, U-Boot, the dtbs and boot.scr on one FAT partition."""
    if model in RPI_UNSUPPORTED:
        raise MediaError(f"model {model}: {RPI_UNSUPPORTED[model]}")
    board = RPI_BOARDS.get(model)
    if board is None:
        raise MediaError(f"model {model}: waltport knows no Raspberry Pi card layout for it "
                         f"(known: {', '.join(sorted(RPI_BOARDS))})")
    arch, flavour, dtb = rpi_kernel(profile, model, board)
    if arch not in board.uboot:
        raise MediaError(f"model {model}: its kernel is {arch}; Debian 12's u-boot-rpi has "
                         f"{' and '.join(sorted(board.uboot))} builds for it")
    uboot_arch, uboot_dir = board.uboot[arch]
    folder = str(PurePosixPath(dtb).parent)
    dtbs = [dtb, *(f"{folder}/{x}" if folder != "." else x for x in board.extra_dtbs)]
    files = [FileSpec(name, Source("deb", RPI_FIRMWARE, "all", f"usr/lib/raspi-firmware/{name}"),
                      non_free=True) for name in board.firmware]
    files += [FileSpec(PurePosixPath(d).name, Source("kernel-dtb", arch=flavour, path=d))
              for d in dtbs]
    files += [
        FileSpec("u-boot.bin", Source("deb", RPI_UBOOT, uboot_arch,
                                      f"usr/lib/u-boot/{uboot_dir}/u-boot.bin")),
        _generated("config.txt", config_txt(model, arch == "arm64").encode()),
        _generated("boot.scr", artifacts["boot.scr"]),
    ]
    return MediaPlan("raspberrypi", model, profile.media.image_mib or 64,
                     profile.media.partition_start, tuple(files))


def syslinux_cfg() -> str:
    """syslinux starts iPXE (a Linux-format kernel) with the first stage as its initrd.

    iPXE runs an initrd that is an iPXE script, as it would an embedded one.
    """
    return ("# waltport: BIOS boot of WalT's first stage (iPXE + boot.ipxe)\n"
            "SERIAL 0 115200\nPROMPT 0\nTIMEOUT 0\nDEFAULT walt\n"
            "LABEL walt\n  KERNEL /ipxe.lkrn\n  INITRD /boot.ipxe\n")


def plan_pc_usb(profile: Profile, model: str, artifacts: dict[str, bytes]) -> MediaPlan:
    """A USB key: syslinux -> ipxe.lkrn + boot.ipxe (BIOS); ipxe.efi + autoexec.ipxe (UEFI)."""
    script = artifacts["boot.ipxe"]
    files = (
        FileSpec("ipxe.lkrn", Source("deb", IPXE, "all", "boot/ipxe.lkrn")),
        _generated("boot.ipxe", script),
        _generated("syslinux.cfg", syslinux_cfg().encode()),
        FileSpec("EFI/BOOT/BOOTX64.EFI", Source("deb", IPXE, "all", "boot/ipxe.efi")),
        _generated("autoexec.ipxe", script),
    )
    raw = (RawSpec("MBR boot code", 0, Source("host-deb", "syslinux-common", "all",
                                              "/usr/lib/syslinux/mbr/mbr.bin")),)
    return MediaPlan("pc-usb", model, profile.media.image_mib or 32,
                     profile.media.partition_start, files, raw, bios_boot=True)


def _binary_source(b: MediaBinary, arch: str) -> Source:
    if b.package is not None and b.path is not None:
        return Source("deb", b.package, arch, b.path.lstrip("/"))
    return Source("porter", "porter", "", b.file or "")


def plan_uboot(profile: Profile, model: str, artifacts: dict[str, bytes]) -> MediaPlan:
    """boot.scr on a FAT partition, after the board's U-Boot binaries at their sectors."""
    arch = debian_arch(str(profile.arch))
    raw = tuple(RawSpec(b.name, b.sector, _binary_source(b, arch))
                for b in sorted(profile.media.binaries, key=lambda b: b.sector))
    files = (_generated("boot.scr", artifacts["boot.scr"]),)
    start = profile.media.partition_start
    return MediaPlan("uboot", model, profile.media.image_mib or fitting_mib(start), start,
                     files, raw)


def fitting_mib(partition_start: int, partition_mib: int = 8) -> int:
    """The smallest power-of-two image (MiB) holding ``partition_mib`` after ``partition_start``.

    A power of two suits QEMU's SD card and most flashing tools.
    """
    need = -(-partition_start * SECTOR // (1024 * 1024)) + partition_mib
    size = 1
    while size < need:
        size *= 2
    return size


PLANNERS: dict[str, Callable[[Profile, str, dict[str, bytes]], MediaPlan]] = {
    "raspberrypi": plan_raspberrypi,
    "pc-usb": plan_pc_usb,
    "uboot": plan_uboot,
}
# One medium serves the whole family: the first stage on it detects the model.
FAMILY_WIDE = ("pc-usb", "uboot")
NEEDS = {"raspberrypi": Bootloader.UBOOT, "uboot": Bootloader.UBOOT, "pc-usb": Bootloader.IPXE}


def plan_media(profile: Profile, model: str | None, artifacts: dict[str, bytes]) -> MediaPlan:
    """The layout plan of ``profile``'s medium for ``model`` (checked, not yet fetched)."""
    kind = default_kind(profile)
    if NEEDS[kind] is not profile.bootloader:
        raise MediaError(f"media.kind {kind} needs bootloader {NEEDS[kind]}, "
                         f"the profile has {profile.bootloader}")
    chosen = pick_model(profile, model, family_wide=kind in FAMILY_WIDE)
    plan = PLANNERS[kind](profile, chosen, artifacts)
    check_layout(plan)
    return plan


def check_layout(plan: MediaPlan) -> None:
    """The partition fits the image and starts after every raw binary's first sector.

    Raw binaries' ends are checked by :func:`raw_overlaps` once their sizes are known.
    """
    total = plan.image_mib * 1024 * 1024 // SECTOR
    if plan.partition_start >= total - 8192:
        raise MediaError(f"media.partition_start {plan.partition_start} leaves less than "
                         f"4 MiB of the {plan.image_mib} MiB image for the boot partition")
    for r in plan.raw:
        if r.sector and r.sector >= plan.partition_start:
            raise MediaError(f"media.binaries {r.name}: sector {r.sector} is inside the boot "
                             f"partition (starts at {plan.partition_start}): raise "
                             "media.partition_start")


def raw_overlaps(plan: MediaPlan, sizes: dict[str, int]) -> list[str]:
    """Raw binaries (name -> size in bytes) that overlap each other or the partition."""
    problems = []
    spans = sorted((r.sector, r.sector + -(-sizes[r.name] // SECTOR), r.name)
                   for r in plan.raw if r.sector)
    for (_, end, name), (start2, _, name2) in itertools.pairwise(spans):
        if end > start2:
            problems.append(f"media.binaries {name} ends at sector {end}, after {name2} "
                            f"starts ({start2})")
    for _, end, name in spans:
        if end > plan.partition_start:
            problems.append(f"media.binaries {name} ends at sector {end}, inside the boot "
                            f"partition (starts at {plan.partition_start})")
    return problems
