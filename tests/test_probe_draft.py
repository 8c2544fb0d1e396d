"""Verdicts and the draft profile from real U-Boot transcripts (tests/data/probe)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from waltport.net.tftp import read_transfer_log
from waltport.probe.draft import check_draft, draft_profile, fdt_model, render_draft
from waltport.probe.facts import UBootFacts, uboot_facts, with_wire
from waltport.probe.transcript import parse_log, split_transcript
from waltport.probe.verdicts import NO_NIC, bootloader_verdict, profile_verdicts, uboot_verdicts
from waltport.profile.load import load_profile

DATA = Path(__file__).parent / "data" / "probe"
BOARDS = Path(__file__).resolve().parent.parent / "boards"


def facts(name: str, prompt: str) -> UBootFacts:
    t = split_transcript(parse_log((DATA / f"{name}.console.log").read_text()), prompt)
    f = uboot_facts(t)
    wire = DATA / f"{name}.tftp.jsonl"
    return with_wire(f, read_transfer_log(wire), "probe.bin") if wire.exists() else f


def test_verdicts_in_plain_words() -> None:
    arm64 = {v.key: v for v in uboot_verdicts(facts("qemu-arm64-uboot", "=> "))}
    assert arm64["nic"].status == "ok"
    assert arm64["nic"].text.startswith("the network adapter works in this U-Boot (eth0 "
                                        "(virtio-net#32); DHCP answered in ")
    assert "tftpblocksize=1468, tftpwindowsize=16" in arm64["tftp"].text
    assert "not honoured: tftpblocksize=4096" in arm64["tftp"].text
    assert arm64["autoboot"].status == "ok"
    rpi = {v.key: v for v in uboot_verdicts(facts("rpi3-uboot", "U-Boot> "))}
    assert (rpi["nic"].status, rpi["nic"].text) == ("problem", NO_NIC)
    assert "tftp" not in rpi                     # not tried without a lease
    assert rpi["setexpr_sub"].status == "ok"


def test_verdicts_for_a_setexpr_without_sub_and_an_autoboot_that_cannot_stop() -> None:
    f = facts("qemu-arm64-uboot", "=> ")
    no_sub = replace(f, setexpr_sub=False, autoboot_prompt=False,
                     env={**f.env, "bootdelay": "-2"})
    got = {v.key: v for v in uboot_verdicts(no_sub)}
    assert got["setexpr_sub"].text == ("`setexpr` lacks `sub` (no CONFIG_REGEX): detection "
                                       "must use a value table")
    assert got["autoboot"].text == "the autoboot cannot be interrupted (bootdelay -2)"


def test_draft_of_qemu_arm64_passes_check_and_keeps_the_honoured_tftp_options() -> None:
    d = draft_profile(facts("qemu-arm64-uboot", "=> "), "qemu-probe")
    text = render_draft(d)
    assert check_draft(text, "qemu-probe.yaml") == []
    data = yaml.safe_load(text)
    assert data["arch"] == "arm64" and data["model"] == "qemu-probe"
    assert data["uboot"] == {"addresses": "board-defaults", "boot_command": "booti",
                             "tftp_blocksize": 1468, "tftp_windowsize": 16}
    assert data["kernel"]["console"] == "ttyAMA0,115200"
    assert data["second_stage"]["dtb"] is None          # no fdt_addr_r on this board
    assert d.must_fill == ()
    assert "second_stage.dtb" in [f.path for f in d.review]
    assert "#   - model: one kind of node named 'qemu-probe'" in text


def test_draft_of_raspberry_pi_3_detects_from_the_fdtfile_it_read() -> None:
    d = draft_profile(facts("rpi3-uboot", "U-Boot> "), "rpi")
    assert check_draft(render_draft(d), "rpi.yaml") == []
    assert d.data["samples"] == {"broadcom/bcm2837-rpi-3-b.dtb": "rpi-3-b"}
    assert d.data["detect"]["source"] == "fdtfile"
    assert {f.path for f in d.review} >= {"kernel.console", "uboot", "models"}


def test_a_draft_lacking_facts_lists_what_to_fill_and_fails_check() -> None:
    f = facts("rpi3-uboot", "U-Boot> ")
    bare = replace(f, bdinfo={}, build_bits=None,
                   env={k: v for k, v in f.env.items() if k != "kernel_addr_r"})
    d = draft_profile(bare, "rpi")
    assert [m.path for m in d.must_fill] == ["arch", "uboot.addresses", "uboot.boot_command"]
    problems = check_draft(render_draft(d), "rpi.yaml")
    assert "arch: required key is missing" in problems
    assert "#   - uboot.addresses: U-Boot has no kernel_addr_r" in render_draft(d)


def test_fdt_model_names_and_the_porters_profile_against_the_board() -> None:
    assert fdt_model("rockchip/rk3568-nanopi-r5c.dtb") == "nanopi-r5c"
    assert fdt_model("imx8mq-phanbell.dtb") == "phanbell"
    assert fdt_model("Weird_Name.dtb") is None
    rpi = facts("rpi3-uboot", "U-Boot> ")
    got = profile_verdicts(load_profile(BOARDS / "rpi.yaml"), rpi)
    assert [(v.key, v.status) for v in got] == [("profile.detect", "ok")]
    assert got[0].text == ("the profile's rules select rpi-3-b from "
                           "fdtfile='broadcom/bcm2837-rpi-3-b.dtb'")
    wrong = profile_verdicts(load_profile(BOARDS / "qemu-arm64.yaml"),
                             replace(rpi, build_bits=32))
    assert [v.text for v in wrong] == [
        "the profile boots qemu-arm64 with an arm64 kernel; this U-Boot is built for arm"]
    pc = load_profile(BOARDS / "qemu-x86-64.yaml")
    assert [v.text for v in bootloader_verdict(pc, "uboot")] == [
        "the profile says bootloader ipxe; this board answered as uboot"]
    assert bootloader_verdict(pc, "ipxe") == ()


def test_draft_of_the_32_bit_qemu_arm_uboot_boots_zimages() -> None:
    f = facts("qemu-arm-uboot", "=> ")
    assert (f.build_bits, f.arch) == (32, "arm")
    d = draft_profile(f, "arm-probe")
    assert check_draft(render_draft(d), "arm-probe.yaml") == []
    assert (d.data["arch"], d.data["uboot"]["boot_command"]) == ("arm", "bootz")
    assert d.data["uboot"]["tftp_windowsize"] == 16
    # What boards/qemu-arm.yaml learnt by hand, the probe read from the board.
    known = load_profile(BOARDS / "qemu-arm.yaml")
    assert (str(known.arch), known.boot_command_of("qemu-arm")) == ("arm", "bootz")
    assert profile_verdicts(known, f) == ()
