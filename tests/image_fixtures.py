"""Small fixture images for the image-stage tests, built by the tests themselves.

Binaries are minimal ELF files with a real header (machine, PT_INTERP,
PT_DYNAMIC with DT_NEEDED) and, for busybox, a real applet table; kernels are
the boot headers of an arm64 ``Image`` or an x86 ``bzImage``; the initrd is a
real newc archive.  A good tree passes every mandatory check; tests break one
thing at a time.
"""

from __future__ import annotations

import struct
from pathlib import Path

from waltport.bootloader.scriptimage import build_script_image
from waltport.host.cpio import Entry, write_newc
from waltport.image.busybox import REQUIRED_APPLETS, applet_table
from waltport.image.checks_system import REQUIRED_COMMANDS
from waltport.image.sources import open_rootfs_dir
from waltport.image.view import RootView

MACHINE = {"arm64": 0xB7, "x86_64": 0x3E, "arm": 0x28, "x86": 0x03}
APPLETS = sorted({*REQUIRED_APPLETS, *REQUIRED_COMMANDS, "[", "[[", "ash", "init", "insmod",
                  "udhcpc"})
VERSION = "6.1.0-test"
CONFIG_M = """\
CONFIG_OVERLAY_FS=m
CONFIG_NFS_FS=m
CONFIG_NFS_V3=m
# CONFIG_ROOT_NFS is not set
"""
CONFIG_Y = "".join(f"CONFIG_{o}=y\n" for o in ("OVERLAY_FS", "NFS_FS", "NFS_V3", "ROOT_NFS",
                                                "IP_PNP", "IP_PNP_DHCP"))
UBOOT_SCRIPT = """\
# WalT-style second stage (test fixture)
setenv nfs_root "/var/lib/walt/nodes/${ipaddr}/fs"
setenv bootargs "root=/dev/nfs nfsroot=${serverip}:${nfs_root},vers=3 init=/bin/walt-init"
tftp ${kernel_addr_r} kernel || reset
tftp ${ramdisk_addr_r} initrd || reset
booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr} || reset
"""
IPXE_START = """\
#!ipxe
set node_model pc-x86-64
set urlprefix tftp://${next-server}/
chain --autofree ${urlprefix}generic.ipxe || reboot
"""
IPXE_GENERIC = """\
#!ipxe
set walt_submodel ${manufacturer}/${product}
chain ${urlprefix}${walt_submodel}/boot-params.ipxe || echo no sub-model parameters
imgfree
kernel ${urlprefix}kernel initrd=initrd root=/dev/nfs ip=dhcp || reboot
initrd ${urlprefix}initrd || reboot
boot || reboot
"""
LABELS = {"walt.node.models": "qemu-arm64", "walt.server.minversion": "4"}
X86_LABELS = {"walt.node.models": "pc-x86-64", "walt.server.minversion": "4"}


def make_elf(arch: str = "arm64", *, interp: str | None = None, needed: tuple[str, ...] = (),
             payload: bytes = b"", runpath: str | None = None) -> bytes:
    """A little-endian ELF64 executable with the given interpreter, DT_NEEDED, DT_RUNPATH."""
    phnum = 1 + (interp is not None) + bool(needed)
    data_off = 64 + 56 * phnum
    blob = bytearray()
    interp_off = data_off
    if interp is not None:
        blob += interp.encode() + b"\0"
    strtab_off = data_off + len(blob)
    names = b"\0" + b"".join(n.encode() + b"\0" for n in needed)
    runpath_at = len(names)
    if runpath is not None:
        names += runpath.encode() + b"\0"
    blob += names
    while (data_off + len(blob)) % 8:
        blob += b"\0"
    dyn_off = data_off + len(blob)
    offsets, pos = [], 1
    for n in needed:
        offsets.append(pos)
        pos += len(n) + 1
    dyn = b"".join(struct.pack("<qQ", 1, o) for o in offsets)
    if runpath is not None:
        dyn += struct.pack("<qQ", 29, runpath_at)
    dyn += struct.pack("<qQ", 5, strtab_off) + struct.pack("<qQ", 0, 0)
    if needed:
        blob += dyn
    blob += payload
    total = data_off + len(blob)
    phdrs = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, total, total, 0x1000)
    if interp is not None:
        phdrs += struct.pack("<IIQQQQQQ", 3, 4, interp_off, interp_off, interp_off,
                             len(interp) + 1, len(interp) + 1, 1)
    if needed:
        phdrs += struct.pack("<IIQQQQQQ", 2, 6, dyn_off, dyn_off, dyn_off, len(dyn), len(dyn), 8)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, MACHINE[arch], 1, 0x400000, 64, 0, 0,
                                 64, 56, phnum, 64, 0, 0)
    return header + phdrs + bytes(blob)


def busybox(arch: str = "arm64", applets: list[str] | None = None, **kw: object) -> bytes:
    table = applet_table(APPLETS if applets is None else applets)
    return make_elf(arch, payload=b"\0junk\0" + table + b"\0BusyBox v1.35.0", **kw)  # type: ignore[arg-type]


def arm64_kernel() -> bytes:
    head = bytearray(4096)
    head[0x38:0x3C] = b"ARM\x64"
    return bytes(head)


def arm_zimage() -> bytes:
    head = bytearray(4096)
    struct.pack_into("<I", head, 0x24, 0x016F2818)
    return bytes(head)


def x86_kernel(bits64: bool = True) -> bytes:
    head = bytearray(4096)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, 0x020F)
    struct.pack_into("<H", head, 0x236, 0x7F if bits64 else 0)
    return bytes(head)


def initrd(modules: tuple[str, ...] = ("overlay", "nfs", "nfsv3")) -> bytes:
    entries = [Entry.directory("lib"), Entry.directory("lib/modules"),
               Entry.file("init", b"#!/bin/sh\n", 0o755)]
    entries += [Entry.file(f"lib/modules/{m}.ko", b"\0" * 16) for m in modules]
    return write_newc(entries, mtime=0)


def put(root: Path, rel: str, data: bytes | str, mode: int = 0o644) -> Path:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_symlink() or p.exists():
        p.unlink()
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    p.chmod(mode)
    return p


def link(root: Path, rel: str, target: str) -> None:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_symlink() or p.exists():
        p.unlink()
    p.symlink_to(target)


def userland(root: Path, arch: str) -> None:
    """busybox + applet links, /sbin/init, dropbear with its libraries, /etc."""
    loader = {"arm64": "/lib/ld-linux-aarch64.so.1", "x86_64": "/lib64/ld-linux-x86-64.so.2"}[arch]
    libdir = {"arm64": "/lib/aarch64-linux-gnu", "x86_64": "/lib/x86_64-linux-gnu"}[arch]
    put(root, "bin/busybox", busybox(arch), 0o755)
    for a in APPLETS:
        if a not in ("[", "[["):
            link(root, f"bin/{a}", "busybox")
    link(root, "sbin/init", "../bin/busybox")
    put(root, "usr/sbin/dropbear", make_elf(arch, interp=loader, needed=("libc.so.6", "libz.so.1")),
        0o755)
    put(root, loader, make_elf(arch), 0o755)
    put(root, f"{libdir}/libc.so.6", make_elf(arch), 0o755)
    put(root, f"{libdir}/libz.so.1", make_elf(arch), 0o755)
    put(root, "etc/inittab", "::sysinit:/etc/init.d/rcS\n"
        "::respawn:/usr/sbin/dropbear -F -R -E -p 22\n")
    put(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    (root / "root/.ssh").mkdir(parents=True, exist_ok=True)


def good_arm64(root: Path) -> Path:
    """A rootfs that passes every mandatory check for qemu-arm64."""
    userland(root, "arm64")
    put(root, f"boot/vmlinuz-{VERSION}", arm64_kernel())
    put(root, f"boot/initrd.img-{VERSION}", initrd())
    put(root, f"boot/config-{VERSION}", CONFIG_M)
    put(root, "boot/qemu-arm64/start.uboot", build_script_image(
        UBOOT_SCRIPT.encode(), arch="arm64", name="start.uboot", timestamp=0))
    link(root, "boot/qemu-arm64/kernel", f"../vmlinuz-{VERSION}")
    link(root, "boot/qemu-arm64/initrd", f"../initrd.img-{VERSION}")
    return root


def good_x86(root: Path) -> Path:
    """A rootfs that passes every mandatory check for pc-x86-64 (iPXE, chained script)."""
    userland(root, "x86_64")
    put(root, f"boot/vmlinuz-{VERSION}", x86_kernel())
    put(root, f"boot/initrd.img-{VERSION}", initrd())
    put(root, f"boot/config-{VERSION}", CONFIG_Y)
    put(root, "boot/pc-x86-64/start.ipxe", IPXE_START)
    put(root, "boot/pc-x86-64/generic.ipxe", IPXE_GENERIC)
    link(root, "boot/pc-x86-64/kernel", f"../vmlinuz-{VERSION}")
    link(root, "boot/pc-x86-64/initrd", f"../initrd.img-{VERSION}")
    return root


def view_of(root: Path, labels: dict[str, str] | None = None) -> RootView:
    """The rootfs dir as a view, with image labels as a built image would carry."""
    v = open_rootfs_dir(root)
    v.labels = dict(LABELS if labels is None else labels)
    return v
