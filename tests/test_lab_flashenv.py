"""The SPI-flash analog: stored environment from U-Boot's own defaults + the bootcommand."""

from __future__ import annotations

import binascii
import shutil
from pathlib import Path

import pytest

from waltport.bootloader.render import render_artifacts
from waltport.lab.virtual.flashenv import (
    ENV_SIZE,
    FLASH_SIZE,
    FlashEnvError,
    build_flash_image,
    dump_default_env,
    fragment_settings,
    parse_printenv,
    stored_env_text,
)
from waltport.profile.load import load_profile

ROOT = Path(__file__).resolve().parent.parent


def test_parse_printenv() -> None:
    lines = ["=> printenv", "arch=arm", "bootcmd=run distro_bootcmd", "bootdelay=2",
             "", "Environment size: 4511/262140 bytes"]
    assert parse_printenv(lines) == {"arch": "arm", "bootcmd": "run distro_bootcmd",
                                     "bootdelay": "2"}


def test_fragment_settings_from_the_generated_fragment() -> None:
    fragment = render_artifacts(load_profile(ROOT / "boards" / "qemu-arm64.yaml"))[
        "bootcommand.fragment"].decode()
    settings = fragment_settings(fragment)
    assert settings["bootdelay"] == "-2"
    cmds = [c.strip() for c in settings["bootcmd"].split(";")]
    assert "setenv bootp_vci walt.node.${walt_model}" in cmds
    assert "tftp ${scriptaddr} start.uboot || reset" in cmds
    assert fragment_settings('CONFIG_BOOTCOMMAND="echo a\\\\b"\n') == {"bootcmd": "echo a\\b"}
    with pytest.raises(FlashEnvError, match="no CONFIG_BOOTCOMMAND"):
        fragment_settings("CONFIG_BOOTDELAY=-2\n")


def test_stored_env_text() -> None:
    text = stored_env_text({"bootcmd": "run distro_bootcmd", "fdtcontroladdr": "46db6db0",
                            "arch": "arm"}, {"bootcmd": "dhcp", "bootdelay": "-2"})
    assert text == "arch=arm\nbootcmd=dhcp\nbootdelay=-2\n"   # volatile values dropped
    with pytest.raises(FlashEnvError, match="newline"):
        stored_env_text({}, {"bootcmd": "a\nb"})


@pytest.mark.skipif(shutil.which("mkenvimage") is None, reason="u-boot-tools not installed")
def test_flash_image_has_a_valid_crc(tmp_path: Path) -> None:
    image = build_flash_image("bootcmd=dhcp\nbootdelay=-2\n", tmp_path / "flash1.img")
    blob = image.read_bytes()
    assert len(blob) == FLASH_SIZE and blob[ENV_SIZE:ENV_SIZE + 16] == b"\xff" * 16
    crc, data = int.from_bytes(blob[:4], "little"), blob[4:ENV_SIZE]
    assert crc == binascii.crc32(data)
    assert data.startswith(b"bootcmd=dhcp\0bootdelay=-2\0\0")


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="needs QEMU")
def test_default_env_from_real_uboot(tmp_path: Path) -> None:
    env = dump_default_env(tmp_path / "env.log")
    assert env["bootcmd"] == "run distro_bootcmd"
    assert "distro_bootcmd" in env and env["bootdelay"] == "2"
