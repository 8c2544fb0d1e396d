"""Facts from real U-Boot and iPXE transcripts (tests/data/probe: captured, not invented)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.net.tftp import read_transfer_log
from waltport.probe.draft import check_draft, render_draft
from waltport.probe.facts import (
    NetDevice,
    parse_dhcp,
    parse_help,
    parse_net_list,
    parse_tftp,
    uboot_facts,
    with_wire,
)
from waltport.probe.ipxe import ipxe_draft, ipxe_facts, ipxe_verdicts, parse_show
from waltport.probe.transcript import Transcript, parse_log, split_transcript

DATA = Path(__file__).parent / "data" / "probe"


def transcript(name: str, prompt: str) -> Transcript:
    return split_transcript(parse_log((DATA / f"{name}.console.log").read_text()), prompt)


@pytest.fixture(scope="module")
def arm64() -> Transcript:
    return transcript("qemu-arm64-uboot", "=> ")


@pytest.fixture(scope="module")
def rpi3() -> Transcript:
    return transcript("rpi3-uboot", "U-Boot> ")


def test_transcript_splits_at_each_prompt(arm64: Transcript) -> None:
    assert [e.command for e in arm64.exchanges][:4] == ["version", "bdinfo", "printenv", "help"]
    assert arm64.boot[-1].startswith("Hit any key to stop autoboot")
    assert any(line.startswith("Net:") for line in arm64.boot)
    bdinfo = arm64.output_of("bdinfo")
    assert bdinfo is not None and bdinfo.startswith("boot_params")
    assert arm64.exchanges[0].done >= arm64.exchanges[0].sent
    # The final bare prompt is not an exchange.
    assert arm64.exchanges[-1].command.endswith("tftpboot ${kernel_addr_r} probe.bin")


def test_qemu_arm64_facts(arm64: Transcript) -> None:
    f = uboot_facts(arm64)
    assert f.version is not None and f.version.startswith("U-Boot 2023.01+dfsg")
    assert (f.build_bits, f.arch, f.bootdelay) == (64, "arm64", 2)
    assert f.env["bootcmd"] == "run distro_bootcmd"
    assert f.addresses["kernel_addr_r"] == "0x40400000" and "fdt_addr_r" not in f.addresses
    assert f.detection_candidates["board_name"] == "qemu-arm"
    assert {"booti", "bootm", "dhcp", "tftpboot", "pxe", "setexpr"} <= set(f.commands)
    assert "bootz" not in f.commands
    assert f.setexpr_sub is True
    assert f.net_line == "eth0: virtio-net#32"
    assert f.net_devices[0].driver == "virtio-net#32" and f.net_devices[0].active
    assert f.has_nic is True and f.autoboot_prompt
    assert f.dhcp is not None and f.dhcp.bound and f.dhcp.address == "192.168.152.10"
    assert f.dhcp.uboot_ms is not None and f.dhcp.uboot_ms > 0
    assert [t.bytes for t in f.tftp] == [4 << 20] * 3
    assert f.tftp[1].settings == {"tftpblocksize": "1468", "tftpwindowsize": "16"}
    assert all(t.rate and t.rate > 1 << 20 for t in f.tftp)


def test_the_wire_says_which_tftp_settings_were_honoured(arm64: Transcript) -> None:
    records = read_transfer_log(DATA / "qemu-arm64-uboot.tftp.jsonl")
    f = with_wire(uboot_facts(arm64), records, "probe.bin")
    assert [(t.wire_blksize, t.wire_windowsize) for t in f.tftp] == [
        (1468, 1), (1468, 16), (1468, 16)]
    assert [t.honoured for t in f.tftp] == [True, True, False]
    assert uboot_facts(arm64).tftp[0].honoured is None     # no server record: cannot tell


def test_raspberry_pi_3_facts_without_a_network_adapter(rpi3: Transcript) -> None:
    f = uboot_facts(rpi3)
    assert f.prompt == "U-Boot> " and f.arch == "arm64"
    assert f.env["fdtfile"] == "broadcom/bcm2837-rpi-3-b.dtb"
    assert list(f.detection_candidates)[:3] == ["fdtfile", "board_name", "board"]
    assert f.env["soc"] == "bcm283x" and f.env["board_revision"] == "0xA02082"
    assert f.net_line == "No ethernet found." and f.net_devices == ()
    assert f.has_nic is False
    assert f.dhcp is not None and f.dhcp.no_ethernet and not f.dhcp.bound
    assert f.tftp == ()


def test_single_outputs() -> None:
    assert parse_help("booti     - boot Linux\nbootz     - boot zImage\n") == ("booti", "bootz")
    assert parse_net_list("eth0 : ethernet@7e580000 b8:27:eb:00:00:01 active\n")[0].mac == \
        "b8:27:eb:00:00:01"
    d = parse_dhcp("BOOTP broadcast 1\nBOOTP broadcast 2\n\nRetry count exceeded; starting again")
    assert not d.bound and d.error == "Retry count exceeded; starting again"
    t = parse_tftp("Loading: #####\n\t 512 KiB/s\ndone\nBytes transferred = 1024 (400 hex)",
                   {"tftpblocksize": "512"})
    assert (t.ok, t.bytes, t.rate) == (True, 1024, 512 * 1024)
    bad = parse_tftp("TFTP error: 'file not found' (1)\nNot retrying...", {})
    assert not bad.ok and bad.error == "Not retrying..."


def test_ipxe_facts_of_the_virtual_pc() -> None:
    t = transcript("pc-ipxe", "iPXE> ")
    assert t.exchanges[0].command == "help"       # the banner's backspaces erased
    f = ipxe_facts(t)
    assert f.version == "iPXE 1.0.0+git-20190125.36a4c85-5.1"
    assert f.features is not None and "TFTP" in f.features.split()
    assert {"chain", "cpuid", "ifconf", "show", "set"} <= set(f.commands)
    assert f.net_devices[0] == NetDevice("net0", "virtio-net", "52:54:00:b5:01:04", True)
    assert f.settings["buildarch"] == "i386" and f.settings["platform"] == "pcbios"
    assert f.settings["manufacturer"] == "QEMU"
    assert f.settings["next-server"] == "192.168.152.1"
    assert (f.cpu_64bit, f.arch) == (True, "x86_64")
    assert f.dhcp_ok and f.chain_ok
    assert f.chain_output[-1] == "probe script ran: i386 pcbios"
    verdicts = {v.key: v for v in ipxe_verdicts(f)}
    assert verdicts["nic"].text.startswith("the network adapter works in this iPXE (net0 "
                                           "(virtio-net); DHCP answered in ")
    assert verdicts["chain"].status == "ok" and verdicts["cpuid"].status == "ok"
    d = ipxe_draft(f, "my-pc")
    assert check_draft(render_draft(d), "my-pc.yaml") == []
    assert (d.data["arch"], d.data["dhcp_identifier"]) == ("x86_64", "uci")
    assert parse_show("Could not find \"ip\": No such file or directory") is None
