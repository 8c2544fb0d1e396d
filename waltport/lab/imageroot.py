"""An image root for the virtual boards: ``boot/<model>/{start.*, kernel, initrd}``.

It is what the WalT TFTP remap serves from ``[image]/boot/<model>/``: the
second-stage script generated from the profile, Debian's real kernel for the
arch and the lab initramfs (:mod:`waltport.image.initramfs`).  The lab boots any
image root with that layout, e.g. one exported from a podman image.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from waltport.bootloader.render import render_artifacts
from waltport.errors import WaltportError
from waltport.host.apt import KERNEL_FLAVOUR, debian_arch, fetch_busybox, fetch_kernel
from waltport.image.bootfiles import gzip_kernel, kernel_file_name
from waltport.image.initramfs import build_initramfs
from waltport.profile.detect import detect
from waltport.profile.model import Bootloader, IpxeCpuidDetect, Profile
from waltport.util.atomic import staged_dir


class ImageRootError(WaltportError):
    """An image root lacks a file the board's second stage fetches."""

    exit_code = 2


def second_stage_name(profile: Profile) -> str:
    """``start.uboot`` or ``start.ipxe``: what the first stage asks the server for."""
    return "start.uboot" if profile.bootloader is Bootloader.UBOOT else "start.ipxe"


def lab_model(profile: Profile) -> str:
    """The model a virtual board of ``profile`` turns out to be (a 64-bit CPU for PCs).

    Profiles whose detection reads board variables have no single lab model.
    """
    try:
        model = detect(profile, {}, cpu_64bit=True).model
    except WaltportError as err:
        raise ImageRootError(
            f"{profile.name}: its sub-model comes from a variable of the real board ({err}); "
            "the lab's virtual boards cannot supply it. Boot boards/qemu-arm64.yaml, "
            "boards/qemu-arm.yaml (32-bit ARM) or "
            "boards/qemu-x86-64.yaml in the lab, and check this profile's detection against "
            "the real U-Boot with: waltport lab crosscheck PROFILE") from err
    if model is None:
        raise ImageRootError(f"{profile.name}: detection selects no model in the lab")
    return model


def lab_cpu_64bit(profile: Profile, model: str) -> bool:
    """Whether the virtual board of ``model`` needs a CPU with long mode.

    Raises when the lab cannot make the detection rules pick ``model`` (a
    U-Boot family whose rules read board variables, or an unknown model).
    """
    if model not in profile.all_models:
        raise ImageRootError(f"{profile.name}: {model!r} is not one of its models "
                             f"{list(profile.all_models)}")
    d = profile.detect
    if isinstance(d, IpxeCpuidDetect):
        return model == d.if_64bit
    if model != lab_model(profile):
        raise ImageRootError(f"{profile.name}: the lab cannot make the detection rules "
                             f"select {model!r} (they read board variables)")
    return str(profile.arch_of(model)) != "x86"


def required_files(profile: Profile) -> tuple[str, ...]:
    """Names the second stage fetches from ``boot/<model>/`` (script first)."""
    s = profile.second_stage
    return tuple(n for n in (second_stage_name(profile), s.kernel, s.dtb, s.initrd) if n)


def check_image_root(root: Path, profile: Profile, model: str) -> Path:
    """``root/boot/<model>`` if every required file is there (symlinks resolved inside)."""
    boot = root / "boot" / model
    missing = [n for n in required_files(profile) if not (boot / n).is_file()]
    if missing:
        raise ImageRootError(f"image root {root}: boot/{model}/ lacks {', '.join(missing)}")
    return boot


def _place(src: Path, dest: Path) -> None:
    # A hard link avoids copying a 30-70 MB kernel per run; copy across filesystems.
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def build_image_root(profile: Profile, model: str | None, out_dir: str | Path) -> Path:
    """Write an image root for ``model`` (default: :func:`lab_model`) into ``out_dir``.

    ``boot/<model>/`` holds the generated second stage, the Debian kernel and
    the lab initramfs; the directory is replaced as a whole (atomic).
    """
    model = model or lab_model(profile)
    if model not in profile.all_models:
        raise ImageRootError(f"{profile.name}: {model!r} is not one of its models "
                             f"{list(profile.all_models)}")
    if profile.second_stage.dtb:
        raise ImageRootError(f"{profile.name}: the lab has no dtb to ship "
                             f"(second_stage.dtb={profile.second_stage.dtb!r})")
    arch = str(profile.arch_of(model))     # pc-x86-32: an i386 kernel and busybox
    kernel = fetch_kernel(arch)
    initrd = build_initramfs(arch, busybox=fetch_busybox(arch),
                             modules=kernel.modules_dir, model=model)
    artifacts = render_artifacts(profile)
    script = second_stage_name(profile)
    dest = Path(out_dir)
    with staged_dir(dest) as stage:
        boot = stage / "boot" / model
        boot.mkdir(parents=True)
        (boot / script).write_bytes(artifacts[script])
        if script == "start.uboot":
            (boot / "start.uboot.txt").write_bytes(artifacts["start.uboot.txt"])
        if kernel_file_name(profile, KERNEL_FLAVOUR[debian_arch(arch)],
                            kernel.version).endswith(".gz"):
            (boot / profile.second_stage.kernel).write_bytes(gzip_kernel(kernel.image.read_bytes()))
        else:
            _place(kernel.image, boot / profile.second_stage.kernel)
        if profile.second_stage.initrd:
            (boot / profile.second_stage.initrd).write_bytes(initrd)
        (boot / "kernel.version").write_text(kernel.version + "\n")
    return dest
