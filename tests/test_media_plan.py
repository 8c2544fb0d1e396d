"""The media core (pure): model choice, config.txt, MBR, layout checks, the sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waltport.bootloader.render import render_artifacts
from waltport.host.apt import private_sources
from waltport.media.disk import RawBytes, assemble, mbr
from waltport.media.plan import (
    MediaError,
    config_txt,
    plan_media,
    raw_overlaps,
)
from waltport.media.sidecar import Entry, Sidecar
from waltport.profile.load import load_profile, parse_profile

BOARDS = Path(__file__).resolve().parent.parent / "boards"


def _plan(board: str, model: str | None = None):  # type: ignore[no-untyped-def]
    profile = load_profile(BOARDS / board)
    return plan_media(profile, model, render_artifacts(profile, timestamp=0))


def test_rpi_plan_names_firmware_uboot_dtb_config_and_boot_scr() -> None:
    plan = _plan("rpi.yaml", "rpi-4-b")
    dests = {f.dest: f for f in plan.files}
    assert set(dests) == {"start4.elf", "fixup4.dat", "u-boot.bin", "bcm2711-rpi-4-b.dtb",
                          "config.txt", "boot.scr"}
    assert dests["u-boot.bin"].source.path == "usr/lib/u-boot/rpi_4/u-boot.bin"
    assert dests["u-boot.bin"].source.package == "u-boot-rpi"
    assert {d for d, f in dests.items() if f.non_free} == {"start4.elf", "fixup4.dat"}
    assert dests["boot.scr"].data == render_artifacts(load_profile(BOARDS / "rpi.yaml"),
                                                      timestamp=0)["boot.scr"]
    plan3 = _plan("rpi.yaml", "rpi-3-b")
    assert {f.dest for f in plan3.files} >= {"bootcode.bin", "start.elf", "fixup.dat",
                                              "bcm2837-rpi-3-b.dtb"}


def test_config_txt_is_for_uboot_on_the_model() -> None:
    text = config_txt("rpi-4-b", arm64=True)
    settings = dict(line.split("=", 1) for line in text.splitlines()
                    if line and not line.startswith("#"))
    assert settings == {"kernel": "u-boot.bin", "enable_uart": "1", "upstream_kernel": "1",
                        "arm_64bit": "1"}
    assert "arm_64bit" not in config_txt("rpi-2-b", arm64=False)


def test_32bit_models_get_the_32bit_uboot_their_kernel_needs() -> None:
    # rpi.yaml's boot_files: rpi-b runs Debian's armel "rpi" kernel, rpi-2-b armmp.
    b = {f.dest: f for f in _plan("rpi.yaml", "rpi-b").files}
    assert b["u-boot.bin"].source.arch == "armel"
    assert b["u-boot.bin"].source.path == "usr/lib/u-boot/rpi/u-boot.bin"
    assert {"bcm2835-rpi-b.dtb", "bcm2835-rpi-b-rev2.dtb"} <= set(b)   # both board revisions
    assert b["bcm2835-rpi-b.dtb"].source.arch == "rpi"                 # the kernel flavour
    assert b"arm_64bit" not in (b["config.txt"].data or b"")
    two = {f.dest: f for f in _plan("rpi.yaml", "rpi-2-b").files}
    assert two["u-boot.bin"].source.path == "usr/lib/u-boot/rpi_2/u-boot.bin"
    assert two["u-boot.bin"].source.arch == "armhf"
    # A profile whose Pi 3 runs a 32-bit kernel gets the 32-bit Pi 3 U-Boot.
    text = (BOARDS / "rpi.yaml").read_text().replace(
        "  - models: [rpi-3-b, rpi-3-b-plus]\n    cpu: armv8\n    kernel: arm64",
        "  - models: [rpi-3-b, rpi-3-b-plus]\n    cpu: armv8\n    kernel: armmp")
    assert "kernel: armmp" in text
    text = text.replace("rpi-3-b: broadcom/bcm2837-rpi-3-b.dtb", "rpi-3-b: bcm2837-rpi-3-b.dtb")
    profile = parse_profile(text, "rpi32.yaml")
    three = {f.dest: f for f in plan_media(profile, "rpi-3-b", render_artifacts(
        profile, timestamp=0)).files}
    assert three["u-boot.bin"].source.path == "usr/lib/u-boot/rpi_3_32b/u-boot.bin"
    assert b"arm_64bit" not in (three["config.txt"].data or b"")


@pytest.mark.parametrize(("model", "reason"), [
    ("rpi-9", "is not in profile rpi"),
    ("rpi-5-b", "does not support the Raspberry Pi 5"),
])
def test_rpi_bad_models_are_clear_errors(model: str, reason: str) -> None:
    with pytest.raises(MediaError, match=reason) as err:
        _plan("rpi.yaml", model)
    assert err.value.exit_code == 2


def test_a_family_card_needs_a_model_but_a_pc_key_serves_the_family() -> None:
    with pytest.raises(MediaError, match="give --model"):
        _plan("rpi.yaml")
    plan = _plan("qemu-x86-64.yaml")
    assert plan.model == "pc-x86-64,pc-x86-32" and plan.bios_boot
    assert {f.dest for f in plan.files} == {"ipxe.lkrn", "boot.ipxe", "syslinux.cfg",
                                            "EFI/BOOT/BOOTX64.EFI", "autoexec.ipxe"}
    cfg = next(f.data for f in plan.files if f.dest == "syslinux.cfg")
    assert cfg is not None and b"KERNEL /ipxe.lkrn" in cfg and b"INITRD /boot.ipxe" in cfg


UBOOT_BOARD = """
name: myboard
arch: arm64
bootloader: uboot
dhcp_identifier: vci
model: myboard
uboot: {{boot_command: booti}}
media:
  partition_start: {start}
  binaries:
    - {{name: idbloader.img, sector: 64, file: idbloader.img}}
    - {{name: u-boot.itb, sector: 16384, package: u-boot-rockchip,
       path: /usr/lib/u-boot/x/u-boot.itb}}
"""


def test_uboot_board_binaries_must_sit_before_the_partition() -> None:
    profile = parse_profile(UBOOT_BOARD.format(start=32768), "myboard.yaml")
    plan = plan_media(profile, None, render_artifacts(profile, timestamp=0))
    assert [(r.name, r.sector, r.source.origin) for r in plan.raw] == [
        ("idbloader.img", 64, "porter"), ("u-boot.itb", 16384, "deb")]
    assert plan.raw[1].source.path == "usr/lib/u-boot/x/u-boot.itb"
    assert raw_overlaps(plan, {"idbloader.img": 100 * 512, "u-boot.itb": 1024}) == []
    assert "after u-boot.itb starts" in raw_overlaps(
        plan, {"idbloader.img": 17000 * 512, "u-boot.itb": 1024})[0]
    assert "inside the boot partition" in raw_overlaps(
        plan, {"idbloader.img": 512, "u-boot.itb": 20000 * 512})[0]
    assert plan.image_mib == 32                 # 16 MiB of binaries, then an 8 MiB partition
    assert _plan("qemu-arm64.yaml").image_mib == 16
    inside = parse_profile(UBOOT_BOARD.format(start=8192), "myboard.yaml")
    with pytest.raises(MediaError, match=r"u-boot\.itb: sector 16384 is inside the boot"):
        plan_media(inside, None, render_artifacts(inside, timestamp=0))


def test_mbr_and_assembly() -> None:
    head = mbr(2048, 63488, boot_code=b"\xeb\x63")
    assert len(head) == 512 and head[:2] == b"\xeb\x63" and head[510:] == b"\x55\xaa"
    entry = head[446:462]
    assert entry[0] == 0x80 and entry[4] == 0x0E
    assert int.from_bytes(entry[8:12], "little") == 2048
    assert int.from_bytes(entry[12:16], "little") == 63488
    with pytest.raises(MediaError, match="at most 440"):
        mbr(2048, 1, boot_code=b"x" * 441)
    img = assemble(head, [RawBytes("spl", 64, b"SPL")], b"FAT", 2048, 2 * 1024 * 1024)
    assert len(img) == 2 * 1024 * 1024 and img[64 * 512:64 * 512 + 3] == b"SPL"
    assert img[2048 * 512:2048 * 512 + 3] == b"FAT"


def test_private_sources_add_non_free_firmware_only_to_the_copy() -> None:
    host = ("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n"
            "Components: main\n\nTypes: deb\nComponents: main contrib non-free-firmware\n")
    text = private_sources(host)
    assert [ln for ln in text.splitlines() if ln.startswith("Components")] == [
        "Components: main non-free-firmware", "Components: main contrib non-free-firmware"]


def test_sidecar_lists_content_flags_non_free_and_leaves_the_device_to_the_user() -> None:
    files = (Entry("start4.elf", 10, "ab" * 32, "raspi-firmware", "1", non_free=True),
             Entry("boot.scr", 5, "cd" * 32, "waltport", "0.1.0"))
    side = Sidecar("rpi4.img", 64, "ef" * 32, "rpi", "rpi-4-b", "raspberrypi", 2048, 1000,
                   "57a17000", files, (), (), 0)
    data = json.loads(side.to_json())
    assert data["non_free"] == ["start4.elf"]
    assert [f["path"] for f in data["files"]] == ["start4.elf", "boot.scr"]
    assert data["write"]["dd"].startswith("dd if=rpi4.img of=/dev/<")
    md = side.to_markdown()
    assert "| start4.elf | 10 | raspi-firmware | 1 |" in md and "bmaptool copy" in md


def test_sidecar_reads_back_what_it_wrote_or_names_the_problem() -> None:
    files = (Entry("start4.elf", 10, "ab" * 32, "raspi-firmware", "1", non_free=True),)
    raw = (Entry("idbloader.img", 7, "cd" * 32, "u-boot-rockchip", "2023.01", sector=64),)
    side = Sidecar("rpi4.img", 64, "ef" * 32, "rpi", "rpi-4-b", "raspberrypi", 2048, 1000,
                   "57a17000", files, raw, ("a note",), 0, {"verdict": "verified"})
    obj = json.loads(side.to_json())
    assert Sidecar.from_json(obj) == side
    with pytest.raises(MediaError, match=r"x\.json: not a medium sidecar \(no 'sha256'\)"):
        Sidecar.from_json({k: v for k, v in obj.items() if k != "sha256"}, "x.json")
    with pytest.raises(MediaError, match=r"x\.json: malformed medium sidecar"):
        Sidecar.from_json({**obj, "size": "big"}, "x.json")
    with pytest.raises(MediaError, match=r"write commands do not name its image .rpi4\.img."):
        Sidecar.from_json({**obj, "write": {"dd": "dd if=other.img of=/dev/sda"}}, "x.json")
