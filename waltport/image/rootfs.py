"""The small, real default rootfs of a virtual board (busybox-static + dropbear + kernel).

Layout, WalT-style::

    /bin/busybox (Debian busybox-static of the arch) + one link per applet
    /sbin/init -> ../bin/busybox (busybox init, /etc/inittab starts dropbear)
    /usr/sbin/dropbear + the libraries it needs (Debian packages of the arch)
    /boot/vmlinuz-<ver>, initrd.img-<ver>, config-<ver>   (Debian kernels, initramfs)
    /boot/<model>/start.uboot | start.ipxe                 (bootloader stage)
    /boot/<model>/kernel -> ../vmlinuz-<ver>, initrd -> ../initrd.img-<ver>, dtb -> ...

The userland is the profile's (``userland``: armel for a family with an
ARMv6 model); each model's kernel and dtb come from its ``boot_files`` entry
(:mod:`waltport.image.bootfiles`).  Binaries are copied, never run; the
applet links come from the applet table read out of the busybox binary.  Why
dropbear: see docs/image.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from waltport.bootloader.render import render_artifacts
from waltport.errors import WaltportError
from waltport.host.apt import fetch_busybox
from waltport.image.bootfiles import missing_porter_files, place_boot_files, plan_boot_files
from waltport.image.busybox import applets
from waltport.image.debs import fetch_packages
from waltport.image.elf import parse_elf
from waltport.profile.model import Bootloader, Profile
from waltport.util.atomic import staged_dir

LIB_DIRS = ("lib", "usr/lib", "lib64", "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu",
            "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib/i386-linux-gnu",
            "usr/lib/i386-linux-gnu", "lib/arm-linux-gnueabihf", "usr/lib/arm-linux-gnueabihf",
            "lib/arm-linux-gnueabi", "usr/lib/arm-linux-gnueabi")
INITTAB = """\
# busybox init (waltport default image)
::sysinit:/etc/init.d/rcS
::respawn:/usr/sbin/dropbear -F -R -E -p 22
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
"""
RCS = """\
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run /tmp
mount -t devpts devpts /dev/pts
hostname -F /etc/hostname
ip link set lo up
# eth0 keeps the address the initramfs gave it (Debian's kernel has no IP_PNP);
# without one (a board booted otherwise), ask DHCP.
ip -4 addr show dev eth0 | grep -q inet || udhcpc -i eth0 -n -q -t 5 2>/dev/null
ip link set eth0 up 2>/dev/null
model=$(cat /etc/walt-model 2>/dev/null || echo unknown)
addr=$(ip -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}')
echo "WALTPORT-IMAGE-INIT model=$model ip=$addr sshd=dropbear:22" > /dev/console
"""
ETC = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": "root:x:0:\n",
    "etc/shadow": "root:*:19000:0:99999:7:::\n",
    "etc/shells": "/bin/sh\n",
    "etc/inittab": INITTAB,
    "etc/hostname": "walt-node\n",
}


class RootfsError(WaltportError):
    """The default rootfs could not be assembled (a file missing from a package)."""


def image_models(profile: Profile, arch: str | None = None) -> tuple[str, ...]:
    """Models one image of ``arch`` (default: the family's) serves: those of that CPU arch.

    ``model_arch`` sets a sub-model apart (the PC family's ``pc-x86-32`` is
    ``x86``): it needs an image of its own arch.
    """
    return profile.models_of_arch(arch or str(profile.arch))


def _find(trees: list[Path], rel: str) -> Path | None:
    for t in trees:
        p = t / rel.lstrip("/")
        if p.exists():
            return p
    return None


def _copy_in(trees: list[Path], rel: str, dest: Path) -> Path:
    """Copy ``rel`` from the package trees into ``dest``, keeping symlinks as symlinks."""
    src = _find(trees, rel)
    if src is None:
        raise RootfsError(f"{rel} is in none of the unpacked packages")
    out = dest / rel.lstrip("/")
    out.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        target = os.readlink(src)
        if not out.is_symlink():
            out.symlink_to(target)
        full = target if target.startswith("/") else os.path.normpath(
            os.path.join(os.path.dirname("/" + rel.lstrip("/")), target))
        return _copy_in(trees, full, dest)
    shutil.copy2(src, out)
    return out


def _copy_with_libs(trees: list[Path], rel: str, dest: Path) -> None:
    """A binary plus its interpreter and DT_NEEDED libraries (transitively)."""
    todo, done = [rel], set()
    while todo:
        cur = todo.pop()
        if cur in done:
            continue
        done.add(cur)
        path = _copy_in(trees, cur, dest)
        info = parse_elf(path.read_bytes())
        if info is None:
            continue
        if info.interpreter:
            todo.append(info.interpreter)
        for lib in info.needed:
            where = next((f"/{d}/{lib}" for d in LIB_DIRS if _find(trees, f"{d}/{lib}")), None)
            if where is None:
                raise RootfsError(f"{cur} needs {lib}: not in the fetched packages")
            todo.append(where)


def _write(root: Path, rel: str, data: bytes | str, mode: int = 0o644) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    p.chmod(mode)


def served_models(profile: Profile, arch: str | None = None,
                  porter_dir: Path | None = None) -> tuple[str, ...]:
    """The models an image of ``arch`` boots: those of that arch whose porter files are here."""
    models = image_models(profile, arch)
    missing = missing_porter_files(plan_boot_files(profile, models), porter_dir)
    return tuple(m for m in models if m not in missing)


def assemble_default_rootfs(profile: Profile, out_dir: str | Path, arch: str | None = None,
                            porter_dir: Path | None = None) -> list[str]:
    """Write the default rootfs into ``out_dir`` (replaced as a whole); notes to report.

    ``arch`` (default: the family's) selects the userland and the models
    served; ``porter_dir`` holds the files the profile says the porter supplies.
    """
    arch = arch or str(profile.arch)
    models = image_models(profile, arch)
    if not models:
        raise RootfsError(f"{profile.name}: no model of arch {arch}")
    userland = profile.userland_of(arch)
    bb = fetch_busybox(userland).read_bytes()
    trees = fetch_packages(userland)
    with staged_dir(out_dir) as root:
        for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "run", "root/.ssh",
                  "etc/dropbear", "var/log", "usr/bin", "usr/sbin", "mnt"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "root").chmod(0o700)
        (root / "root/.ssh").chmod(0o700)
        (root / "tmp").chmod(0o1777)
        _write(root, "bin/busybox", bb, 0o755)
        for name in applets(bb):
            if name != "busybox" and "/" not in name and not (root / "bin" / name).exists():
                (root / "bin" / name).symlink_to("busybox")
        (root / "sbin/init").symlink_to("../bin/busybox")
        for rel, text in ETC.items():
            _write(root, rel, text, 0o600 if rel == "etc/shadow" else 0o644)
        _write(root, "etc/init.d/rcS", RCS, 0o755)
        _copy_with_libs(trees, "/usr/sbin/dropbear", root)
        notes = write_boot_tree(profile, root, models, busybox=bb, porter_dir=porter_dir)
    return notes


def write_boot_tree(profile: Profile, root: Path, models: tuple[str, ...], *, busybox: bytes,
                    porter_dir: Path | None = None) -> list[str]:
    """``root/boot``: the kernels, dtbs, initrds and each model's second stage; notes.

    Shared by both bases (minimal and Debian): the boot side of a default image
    does not depend on its userland.
    """
    boot = root / "boot"
    boot.mkdir(exist_ok=True)
    notes = place_boot_files(profile, plan_boot_files(profile, models), boot, busybox=busybox,
                             porter_dir=porter_dir)
    script = "start.uboot" if profile.bootloader is Bootloader.UBOOT else "start.ipxe"
    for model in models:
        if not (boot / model).is_dir():
            continue
        # Per model: its boot command follows its kernel's format.
        artifacts = render_artifacts(profile, model=model)
        _write(root, f"boot/{model}/{script}", artifacts[script])
        if script == "start.uboot":
            _write(root, f"boot/{model}/start.uboot.txt", artifacts["start.uboot.txt"])
    return notes
