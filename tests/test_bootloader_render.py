"""Generated boot artifacts: render -> parse -> assert; reproducible bytes; atomic output."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from waltport.bootloader.generate import generate_bootloader
from waltport.bootloader.render import (
    kernel_command_line,
    render_artifacts,
    render_texts,
    uboot_detection_lines,
)
from waltport.bootloader.scriptimage import parse_script_image
from waltport.cli import main
from waltport.errors import ProfileError
from waltport.profile.load import load_profile, parse_profile
from waltport.util.epoch import EpochError

BOARDS = Path(__file__).resolve().parent.parent / "boards"
ALL = sorted(BOARDS.glob("*.yaml"))


def statements(text: str) -> list[list[str]]:
    """Script lines as shell-like word lists (comments dropped)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(shlex.split(line, posix=True))
    return out


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_profile_renders_and_parses(path: Path) -> None:
    profile = load_profile(path)
    arts = render_artifacts(profile, timestamp=0)
    manifest = json.loads(arts["manifest.json"])
    for name, data in arts.items():
        if name != "manifest.json":
            assert manifest["artifacts"][name]["bytes"] == len(data)
    if profile.bootloader == "uboot":
        for compiled, text in (("boot.scr", "boot.scr.txt"), ("start.uboot", "start.uboot.txt")):
            img = parse_script_image(arts[compiled])
            assert img.script == arts[text]
            assert img.arch_name == profile.arch
        words = statements(arts["boot.scr.txt"].decode())
        assert ["setenv", "bootp_vci", "walt.node.${walt_model}"] in words
        assert ["setenv", "autoload", "no"] in words
        assert words.index(["setenv", "autoload", "no"]) < words.index(["dhcp", "||", "reset"])
        assert ["tftp", "${scriptaddr}", "start.uboot", "||", "reset"] in words
        assert words[-1] == ["source", "${scriptaddr}", "||", "reset"]
    else:
        first = arts["boot.ipxe"].decode()
        assert first.startswith("#!ipxe\n")
        words = statements(first)
        assert ["set", "user-class", "walt.node.${walt_model}"] in words
        assert ["ifconf", "--configurator", "dhcp", "||", "reboot"] in words
        assert words[-1] == ["chain", "tftp://${next-server}/start.ipxe", "||", "reboot"]


def test_bootcommand_is_the_first_stage_on_one_line() -> None:
    profile = load_profile(BOARDS / "rpi.yaml")
    texts = render_texts(profile)
    line = next(ln for ln in texts["bootcommand.fragment"].splitlines()
                if ln.startswith("CONFIG_BOOTCOMMAND="))
    value = line.split("=", 1)[1]
    assert value[0] == value[-1] == '"' and '"' not in value[1:-1]
    script_cmds = [ln.strip().rstrip(";") for ln in texts["boot.scr.txt"].splitlines()
                   if ln.strip() and not ln.startswith("#")]
    assert value[1:-1] == "; ".join(script_cmds)
    assert "CONFIG_BOOTDELAY=-2" in texts["bootcommand.fragment"]
    assert "CONFIG_BOOT_RETRY_TIME=15" in texts["bootcommand.fragment"]
    assert "CONFIG_WATCHDOG_AUTOSTART=y" in texts["bootcommand.fragment"]


def test_detection_lines_are_the_script_lines() -> None:
    profile = load_profile(BOARDS / "rpi.yaml")
    lines = uboot_detection_lines(profile)
    assert lines[0] == "setenv walt_model ${fdtfile}"
    assert sum(ln.startswith("setexpr walt_model sub") for ln in lines) == 4
    body = render_texts(profile)["boot.scr.txt"]
    for ln in lines:
        assert ln in body


def test_second_stage_uboot_command_line() -> None:
    profile = load_profile(BOARDS / "qemu-arm64.yaml")
    text = render_texts(profile)["start.uboot.txt"]
    words = statements(text)
    bootargs = next(w for w in words if w[:2] == ["setenv", "bootargs"])[2:]
    args = dict(a.split("=", 1) for a in bootargs if "=" in a)
    assert args["root"] == "/dev/nfs"
    assert args["nfsroot"] == "${serverip}:/var/lib/walt/nodes/${ipaddr}/fs,vers=3,tcp,nolock"
    assert args["ip"] == "${ipaddr}:${serverip}:${gatewayip}:${netmask}:${hostname}::off"
    assert args["BOOTIF"] == "01-${ethaddr}"
    assert args["init"] == "/bin/walt-init"
    assert args["panic"] == "15"
    assert args["console"] == "ttyAMA0,115200"
    assert ["tftp", "${kernel_addr_r}", "kernel", "||", "reset"] in words
    assert ["tftp", "${ramdisk_addr_r}", "initrd", "||", "reset"] in words
    # The initrd size is captured right after its transfer, before anything else.
    i = words.index(["tftp", "${ramdisk_addr_r}", "initrd", "||", "reset"])
    assert words[i + 1] == ["setenv", "walt_initrd_size", "${filesize}"]
    assert words[-1] == ["booti", "${kernel_addr_r}", "${ramdisk_addr_r}:${walt_initrd_size}",
                         "${fdtcontroladdr}", "||", "reset"]


def test_second_stage_tftp_options_come_before_the_transfers() -> None:
    """qemu-arm64 asks for a window of 16; a profile without the keys sets nothing."""
    words = statements(render_texts(load_profile(BOARDS / "qemu-arm64.yaml"))["start.uboot.txt"])
    first_tftp = next(i for i, w in enumerate(words) if w[0] == "tftp")
    assert words.index(["setenv", "tftpwindowsize", "16"]) < first_tftp
    assert not any(w[:2] == ["setenv", "tftpblocksize"] for w in words)
    text = (BOARDS / "qemu-arm64.yaml").read_text().replace(
        "tftp_windowsize: 16", "tftp_windowsize: 4\n  tftp_blocksize: 1024")
    words = statements(render_texts(parse_profile(text))["start.uboot.txt"])
    first_tftp = next(i for i, w in enumerate(words) if w[0] == "tftp")
    assert words.index(["setenv", "tftpblocksize", "1024"]) < first_tftp
    assert words.index(["setenv", "tftpwindowsize", "4"]) < first_tftp
    plain = statements(render_texts(load_profile(BOARDS / "rpi.yaml"))["start.uboot.txt"])
    assert not any(w[0] == "setenv" and w[1].startswith("tftp") for w in plain)


def test_second_stage_with_dtb_and_bootz() -> None:
    text = """
name: armboard
arch: arm
bootloader: uboot
dhcp_identifier: vci
model: armboard
uboot:
  boot_command: bootz
  addresses: {kernel: '0x42000000', fdt: '0x43000000', ramdisk: '0x43300000', script: '0x43100000'}
second_stage: {kernel: zImage, dtb: board.dtb, initrd: null}
"""
    profile = parse_profile(text)
    texts = render_texts(profile)
    first = statements(texts["boot.scr.txt"])
    assert ["setenv", "kernel_addr_r", "0x42000000"] in first
    words = statements(texts["start.uboot.txt"])
    assert ["tftp", "${fdt_addr_r}", "board.dtb", "||", "reset"] in words
    assert words[-1] == ["bootz", "${kernel_addr_r}", "-", "${fdt_addr_r}", "||", "reset"]
    assert parse_script_image(render_artifacts(profile)["boot.scr"]).arch_name == "arm"


def test_gzip_kernel_sets_booti_decompression_per_model() -> None:
    rpi = (BOARDS / "rpi.yaml").read_text().replace(
        "  boot_command: bootz ", "  kernel_compression: gzip\n  kernel_comp_addr: '0x0a000000'"
        "\n  boot_command: bootz ")
    profile = parse_profile(rpi)
    # An arm64 model: the size of what was fetched, and where booti copies it first.
    words = statements(render_texts(profile, "rpi-4-b")["start.uboot.txt"])
    i = words.index(["tftp", "${kernel_addr_r}", "kernel", "||", "reset"])
    assert words[i + 1: i + 3] == [["setenv", "kernel_comp_size", "${filesize}"],
                                   ["setenv", "kernel_comp_addr_r", "0x0a000000"]]
    assert words[-1][0] == "booti"
    # A zImage inflates itself: nothing to set for a bootz model.
    words = statements(render_texts(profile, "rpi-b")["start.uboot.txt"])
    assert words[-1][0] == "bootz" and not any(w[1:2] == ["kernel_comp_size"] for w in words)


def test_gzip_without_a_booti_model_is_refused() -> None:
    text = (BOARDS / "qemu-arm.yaml").read_text().replace(
        "  boot_command: bootz", "  boot_command: bootz\n  kernel_compression: gzip")
    with pytest.raises(ProfileError, match="gzip is for booti"):
        parse_profile(text)


def test_ipxe_second_stage() -> None:
    profile = load_profile(BOARDS / "qemu-x86-64.yaml")
    words = statements(render_texts(profile)["start.ipxe"])
    kernel = next(w for w in words if w[0] == "kernel")
    assert kernel[1] == "tftp://${next-server}/kernel"
    assert "initrd=initrd" in kernel
    assert "BOOTIF=01-${mac:hexhyp}" in kernel
    assert "nfsroot=${next-server}:/var/lib/walt/nodes/${ip}/fs,vers=3,tcp,nolock" in kernel
    assert kernel[-2:] == ["||", "reboot"]
    assert ["initrd", "tftp://${next-server}/initrd", "||", "reboot"] in words
    assert ["set", "walt_submodel", "${manufacturer}/${product}"] in words


def test_kernel_args_extra_and_nfs4() -> None:
    text = (BOARDS / "nanopi-r5c.yaml").read_text().replace("extra_args: [earlycon]",
                                                            "extra_args: [earlycon, quiet]\n"
                                                            "  nfs_version: 4")
    line = kernel_command_line(parse_profile(text))
    assert line.endswith("earlycon quiet") and ",vers=4," in line


def test_reproducible_and_epoch(monkeypatch) -> None:
    profile = load_profile(BOARDS / "rpi.yaml")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = render_artifacts(profile)
    b = render_artifacts(profile)
    assert a == b
    assert parse_script_image(a["boot.scr"]).time == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000001")
    c = render_artifacts(profile)
    assert c["boot.scr.txt"] == a["boot.scr.txt"] and c["boot.scr"] != a["boot.scr"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(EpochError, match="SOURCE_DATE_EPOCH"):
        render_artifacts(profile)


def test_generate_writes_all_and_is_byte_identical(tmp_path: Path) -> None:
    profile = load_profile(BOARDS / "qemu-arm64.yaml")
    m1 = generate_bootloader(profile, tmp_path / "a")
    m2 = generate_bootloader(profile, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [".waltport-output", "boot.scr", "boot.scr.txt", "bootcommand.fragment",
                     "manifest.json", "start.uboot", "start.uboot.txt"]
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
    assert m1.artifacts == m2.artifacts
    # Regenerating replaces the directory as a whole.
    (tmp_path / "a" / "stale").write_text("x")
    generate_bootloader(profile, tmp_path / "a")
    assert not (tmp_path / "a" / "stale").exists()


def test_cli_bootloader_bad_profile_leaves_nothing(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narch: arm64\n")
    out = tmp_path / "out"
    assert main(["bootloader", str(bad), "--out", str(out)]) == 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]
    assert "bootloader: required key is missing" in capsys.readouterr().err


def test_cli_bootloader_ok(tmp_path: Path, capsys) -> None:
    assert main(["bootloader", str(BOARDS / "qemu-x86-64.yaml"), "--out",
                 str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "boot.ipxe").read_text().startswith("#!ipxe")
    assert "boot.ipxe" in capsys.readouterr().out
