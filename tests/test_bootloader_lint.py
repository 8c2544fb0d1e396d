"""Lint: each rule fires on a script written to break it, with the line, and not on good ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.bootloader.generate import generate_bootloader
from waltport.bootloader.lint import (
    lint_bootcommand,
    lint_identifier,
    lint_profile,
    lint_script,
)
from waltport.bootloader.render import render_texts
from waltport.cli import main
from waltport.errors import LintError
from waltport.profile.load import load_profile
from waltport.profile.model import Bootloader

BOARDS = Path(__file__).resolve().parent.parent / "boards"


@pytest.mark.parametrize("path", sorted(BOARDS.glob("*.yaml")), ids=lambda p: p.stem)
def test_builtin_profiles_lint_clean(path: Path) -> None:
    assert lint_profile(load_profile(path)) == []


def test_missing_failure_path_named_with_line() -> None:
    text = "# header\nsetenv autoload no\ndhcp\ntftp ${scriptaddr} start.uboot || reset\n" \
           "source ${scriptaddr}\n"
    findings = lint_script(text, "boot.scr.txt", bootloader=Bootloader.UBOOT)
    assert [(f.code, f.line) for f in findings] == [("W003", 3), ("W003", 5)]
    assert "'dhcp' can fail" in findings[0].message


def test_conditions_count_as_failure_paths() -> None:
    text = "if tftp ${scriptaddr} fit-start.uboot; then source ${scriptaddr}:bootscr || reset; fi\n"
    assert lint_script(text, "x", bootloader=Bootloader.UBOOT) == []


def test_ipxe_fallible_steps() -> None:
    text = "#!ipxe\nifconf --configurator dhcp\nchain tftp://${next-server}/start.ipxe\n"
    codes = [(f.code, f.line) for f in lint_script(text, "boot.ipxe", bootloader=Bootloader.IPXE)]
    assert codes == [("W003", 2), ("W003", 3)]


def test_undefined_variable() -> None:
    text = "setenv a 1\necho ${a} ${b}\ntftp ${kernel_addr_r} ${walt_kernel} || reset\n"
    findings = lint_script(text, "s", bootloader=Bootloader.UBOOT)
    assert [(f.code, f.line, f.message) for f in findings] == [
        ("W004", 2, "${b} is used but never set"),
        ("W004", 3, "${walt_kernel} is used but never set"),
    ]


def test_identifier_rules() -> None:
    profile = load_profile(BOARDS / "rpi.yaml")
    assert lint_identifier(profile, "setenv autoload no\n", "b")[0].code == "W001"
    bad = lint_identifier(profile, "setenv bootp_vci walt.nodes.${walt_model}\n", "b")
    assert bad and "does not start with walt.node." in bad[0].message
    assert lint_identifier(profile, "setenv bootp_vci walt.node.${walt_model}\n", "b") == []
    long_value = "walt.node." + "a" * 250
    assert any("longer than 255" in f.message
               for f in lint_identifier(profile, f"setenv bootp_vci {long_value}\n", "b"))


def test_bootcommand_quote_and_length() -> None:
    frag = 'CONFIG_BOOTCOMMAND="echo "hi"; dhcp || reset"\n'
    codes = {f.code for f in lint_bootcommand(frag, "frag", 1024)}
    assert "W002" in codes
    long_cmd = "; ".join(["echo x"] * 300)
    findings = lint_bootcommand(f'CONFIG_BOOTCOMMAND="{long_cmd}"\n', "frag", 1024)
    assert [f.code for f in findings] == ["W005"]
    assert lint_bootcommand("CONFIG_FOO=y\n", "frag", 1024)[0].code == "W002"


def test_too_long_bootcommand_stops_generation(tmp_path: Path) -> None:
    text = (BOARDS / "rpi.yaml").read_text().replace("  boot_command: bootz",
                                                     "  console_buffer: 256\n  boot_command: bootz")
    bad = tmp_path / "rpi-small.yaml"
    bad.write_text(text)
    profile = load_profile(bad)
    assert any(f.code == "W005" for f in lint_profile(profile))
    with pytest.raises(LintError, match="W005"):
        generate_bootloader(profile, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["lint", str(bad)]) == 1


def test_second_stage_knows_first_stage_variables() -> None:
    profile = load_profile(BOARDS / "coral-dev-board.yaml")
    texts = render_texts(profile)
    assert "${walt_dtb}" in texts["start.uboot.txt"]
    assert lint_profile(profile) == []
