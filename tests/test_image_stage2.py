"""The second-stage analyser on scripts written in WalT's real styles."""

from __future__ import annotations

import image_fixtures as fx
import pytest

from waltport.bootloader.render import render_texts
from waltport.bootloader.scriptimage import build_script_image
from waltport.errors import ScriptImageError
from waltport.image.stage2 import analyse_ipxe, analyse_second_stage, analyse_uboot, expand
from waltport.profile.load import load_profile
from waltport.util.paths import boards_dir

# U-Boot, RPi style: NFS command line assembled with setenv, fallible steps end
# with "|| reset", a device-tree overlays loop, an optional boot-params script.
RPI_STYLE = """\
setenv walt_init /bin/walt-init
setenv nfs_root "/var/lib/walt/nodes/${ipaddr}/fs"
setenv nfs_bootargs "root=/dev/nfs nfsroot=${serverip}:${nfs_root},vers=3"
setenv ip_conf "ip=${ipaddr}:${serverip}:${gatewayip}:${netmask}:${hostname}::off"
setenv bootargs "${nfs_bootargs} ${ip_conf} init=${walt_init} panic=15"
setenv dtb_file bcm2710-rpi-3-b-plus.dtb
setenv overlays "disable-bt uart0"
tftp ${kernel_addr_r} kernel || reset
tftp ${fdt_addr_r} ${dtb_file} || reset
fdt addr ${fdt_addr_r}
fdt resize 8192
for ov in ${overlays}; do
  tftp ${fdtovaddr} overlays/${ov}.dtbo || reset
  fdt apply ${fdtovaddr}
done
if tftp ${scriptaddr} boot-params.uboot; then source ${scriptaddr}; fi
bootz ${kernel_addr_r} - ${fdt_addr_r}
"""


def test_uboot_setenv_chain_overlay_loop_and_needs() -> None:
    a = analyse_uboot(RPI_STYLE)
    got = [(f.name, f.role, f.need) for f in a.fetches]
    assert got == [
        ("kernel", "kernel", "required"),
        ("bcm2710-rpi-3-b-plus.dtb", "dtb", "required"),
        ("overlays/disable-bt.dtbo", "overlay", "required"),
        ("overlays/uart0.dtbo", "overlay", "required"),
        ("boot-params.uboot", "script", "optional"),
    ]
    assert a.boot_commands == ("bootz",)
    assert a.env["bootargs"].startswith(
        "root=/dev/nfs nfsroot=${serverip}:/var/lib/walt/nodes/${ipaddr}/fs,vers=3 ip=")
    assert "init=/bin/walt-init" in a.env["bootargs"]


def test_uboot_unresolved_and_conditional_and_run() -> None:
    text = ("setenv load_kernel 'tftp ${kernel_addr_r} ${kname} || reset'\n"
            "run load_kernel\n"
            "if test -n ${fdtfile}; then tftp ${fdt_addr_r} dtb; else echo none; fi\n"
            "tftp ${ramdisk_addr_r} ${serverip}:initrd && echo ok\n"
            "setexpr kname sub x y ${kname}\n"
            "bootm ${kernel_addr_r}\n")
    a = analyse_uboot(text)
    kernel, dtb, initrd = a.fetches
    assert kernel.name is None and kernel.unresolved == ("kname",) and kernel.need == "required"
    assert (dtb.name, dtb.need) == ("dtb", "conditional")
    assert (initrd.name, initrd.role, initrd.need) == ("initrd", "initrd", "optional")
    assert a.boot_commands == ("bootm",)


def test_uboot_one_argument_tftp_uses_bootfile() -> None:
    a = analyse_uboot("setenv bootfile start.uboot\ntftp ${scriptaddr}\nsource ${scriptaddr}\n")
    assert [f.name for f in a.fetches] == ["start.uboot"]
    assert analyse_uboot("setenv autoload no\ndhcp\n").fetches == ()


def test_ipxe_chain_imgfree_urlprefix_and_submodel() -> None:
    start = analyse_ipxe(fx.IPXE_START)
    (chain,) = start.fetches
    assert (chain.command, chain.name, chain.role) == ("chain", "generic.ipxe", "script")
    generic = analyse_ipxe(fx.IPXE_GENERIC, start.env)
    params, kernel, initrd = generic.fetches
    assert params.name is None and params.need == "optional"
    assert set(params.unresolved) == {"manufacturer", "product"}
    assert (kernel.name, kernel.need) == ("kernel", "required")
    assert (initrd.name, initrd.role) == ("initrd", "initrd")
    assert "boot" in generic.boot_commands


def test_ipxe_external_url_and_options() -> None:
    a = analyse_ipxe("#!ipxe\nkernel --name vmlinuz http://example.invalid/k console=ttyS0\n"
                     "initrd -n rd /initrd\nboot vmlinuz\n")
    k, rd = a.fetches[:2]
    assert k.external and k.name == "k"
    assert (rd.name, rd.external) == ("initrd", False)


def test_expand_leaves_unknown_names_and_reports_them() -> None:
    assert expand("a${x}b${y}", {"x": "1"}) == ("a1b${y}", ("y",))
    assert expand("${a}", {"a": "${b}", "b": "deep"}) == ("deep", ())


def test_generated_second_stages_of_builtin_boards_are_understood() -> None:
    for board in ("qemu-arm64", "qemu-x86-64"):
        profile = load_profile(boards_dir() / f"{board}.yaml")
        texts = render_texts(profile)
        if "start.uboot.txt" in texts:
            a = analyse_uboot(texts["start.uboot.txt"])
        else:
            a = analyse_ipxe(texts["start.ipxe"])
        names = {f.name for f in a.fetches if f.need == "required"}
        assert names == {"kernel", "initrd"}, (board, a.fetches)
        assert a.boot_commands


def test_second_stage_from_bytes_script_image_ipxe_and_corrupt() -> None:
    img = build_script_image(RPI_STYLE.encode(), arch="arm", name="start.uboot", timestamp=0)
    assert analyse_second_stage(img).boot_commands == ("bootz",)
    assert analyse_second_stage(fx.IPXE_START.encode()).kind == "ipxe"
    bad = img[:-10]
    with pytest.raises(ScriptImageError, match="truncated"):
        analyse_second_stage(bad, "start.uboot")
