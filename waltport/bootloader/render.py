"""Render a profile's bootloader artifacts: pure, profile -> {name: bytes}.

Nothing here touches the disk except the template loader; writing the files
(atomically, with a manifest) is :mod:`waltport.bootloader.generate`.
"""

from __future__ import annotations

import hashlib
import json

from waltport._version import __version__
from waltport.bootloader.scriptimage import build_script_image
from waltport.errors import GenerationError
from waltport.profile.load import profile_digest
from waltport.profile.model import Bootloader, Profile
from waltport.util.epoch import source_date_epoch
from waltport.util.templating import environment, render

WALT_NFS_ROOT = "/var/lib/walt/nodes/{ip}/fs"

# What each bootloader calls the network facts the command line needs.
_UBOOT_VARS = {"server": "${serverip}", "ip": "${ipaddr}", "gateway": "${gatewayip}",
               "netmask": "${netmask}", "hostname": "${hostname}", "bootif": "01-${ethaddr}"}
_IPXE_VARS = {"server": "${next-server}", "ip": "${ip}", "gateway": "${gateway}",
              "netmask": "${netmask}", "hostname": "${hostname}", "bootif": "01-${mac:hexhyp}"}


def kernel_command_line(profile: Profile) -> str:
    """The WalT kernel command line, written with the bootloader's own variables."""
    v = _UBOOT_VARS if profile.bootloader is Bootloader.UBOOT else _IPXE_VARS
    k = profile.kernel
    nfs_root = WALT_NFS_ROOT.format(ip=v["ip"])
    args = []
    if k.console:
        args.append(f"console={k.console}")
    args += [
        "root=/dev/nfs",
        f"nfsroot={v['server']}:{nfs_root},vers={k.nfs_version},tcp,nolock",
        f"ip={v['ip']}:{v['server']}:{v['gateway']}:{v['netmask']}:{v['hostname']}::off",
        f"BOOTIF={v['bootif']}",
        f"init={k.init}",
        "panic=15",
        "net.ifnames=0",
        *k.extra_args,
    ]
    return " ".join(args)


def _kconfig_command(block: str) -> str:
    """Script lines -> one CONFIG_BOOTCOMMAND value (``; ``-joined, Kconfig-escaped)."""
    lines = [ln.strip().rstrip(";").rstrip() for ln in block.splitlines()]
    value = "; ".join(ln for ln in lines if ln and not ln.startswith("#"))
    return value.replace("\\", "\\\\")


environment().filters.setdefault("kconfig_command", _kconfig_command)


def uboot_detection_lines(profile: Profile) -> list[str]:
    """The U-Boot commands that leave the sub-model in ``${walt_model}``, one per line.

    They can be typed on a U-Boot console as they are (the lab's cross-check does).
    """
    if profile.bootloader is not Bootloader.UBOOT:
        raise GenerationError(f"{profile.name} is not a U-Boot board")
    module = environment().get_template("uboot/_first_stage.j2").module
    text = str(module.detection(profile))  # type: ignore[attr-defined]
    return [ln for ln in text.splitlines() if ln.strip()]


def _second_stage_args(profile: Profile, model: str | None) -> dict[str, str | bool]:
    s = profile.second_stage
    assert profile.uboot is not None
    # A family's models may boot different kernel formats (booti / bootz).
    cmd = profile.boot_command_of(model) if model else profile.uboot.boot_command
    if s.initrd:
        initrd = "${ramdisk_addr_r}" if cmd == "bootm" else "${ramdisk_addr_r}:${walt_initrd_size}"
    else:
        initrd = "-"
    fdt = "${fdt_addr_r}" if s.dtb else "${fdtcontroladdr}"
    gzip = profile.uboot.kernel_compression == "gzip" and cmd == "booti"
    return {"initrd_arg": initrd, "fdt_arg": fdt, "boot_command": cmd,
            "kernel_gzip": gzip, "kernel_comp_addr": profile.uboot.kernel_comp_addr or ""}


def render_texts(profile: Profile, model: str | None = None) -> dict[str, str]:
    """The text artifacts (scripts and fragment) for ``profile``.

    ``model``: the second stage of that model (its boot command follows its
    kernel's format); default: the profile's ``uboot.boot_command``.
    """
    ctx = {"p": profile, "s": profile.second_stage, "version": __version__,
           "bootargs": kernel_command_line(profile)}
    if profile.bootloader is Bootloader.UBOOT:
        return {
            "boot.scr.txt": render("uboot/boot.scr.txt.j2", **ctx),
            "bootcommand.fragment": render("uboot/bootcommand.fragment.j2", **ctx),
            "start.uboot.txt": render("uboot/start.uboot.txt.j2", **ctx,
                                      **_second_stage_args(profile, model)),
        }
    return {
        "boot.ipxe": render("ipxe/boot.ipxe.j2", **ctx),
        "start.ipxe": render("ipxe/start.ipxe.j2", **ctx),
    }


def render_artifacts(profile: Profile, *, timestamp: int | None = None,
                     model: str | None = None) -> dict[str, bytes]:
    """Every artifact, compiled script images included, plus ``manifest.json``.

    ``model``: the second stage is that model's (see :func:`render_texts`).
    """
    ts = source_date_epoch() if timestamp is None else timestamp
    out = {name: text.encode("utf-8") for name, text in render_texts(profile, model).items()}
    if profile.bootloader is Bootloader.UBOOT:
        arch = str(profile.arch)
        out["boot.scr"] = build_script_image(out["boot.scr.txt"], arch=arch, name="boot.scr",
                                             timestamp=ts)
        out["start.uboot"] = build_script_image(out["start.uboot.txt"], arch=arch,
                                                name="start.uboot", timestamp=ts)
    out["manifest.json"] = manifest_json(profile, out, ts)
    return out


def manifest_json(profile: Profile, artifacts: dict[str, bytes], timestamp: int) -> bytes:
    """Each artifact with its sha256 and size, the profile's hash, the waltport version."""
    doc = {
        "waltport_version": __version__,
        "profile": {"name": profile.name, "sha256": profile_digest(profile),
                    "models": list(profile.all_models), "arch": str(profile.arch),
                    "bootloader": str(profile.bootloader)},
        "source_date_epoch": timestamp,
        "artifacts": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                      for name, data in sorted(artifacts.items())},
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
