"""``waltport media``: real Debian firmware and bootloaders on real FAT images (mtools reads them).

Debian packages come through the private apt into the shared cache (the
first run downloads them).  One build per medium is shared by the module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from waltport.cli import main
from waltport.image.debs import fetch_tree
from waltport.media.build import MediaResult, build_profile_media, read_in_tree
from waltport.media.plan import MediaError
from waltport.profile.load import load_profile
from waltport.profile.media import SECTOR

BOARDS = Path(__file__).resolve().parent.parent / "boards"


def _build(profile: Path, out: Path, model: str | None = None) -> MediaResult:
    return build_profile_media(load_profile(profile), out, model=model, base=profile.parent)


def list_fat(image: Path, part_start: int) -> list[str]:
    """What a user sees with ``mdir`` on the image's boot partition: every path."""
    res = subprocess.run(["mdir", "-/", "-b", "-a", "-i", f"{image}@@{part_start * SECTOR}",
                          "::"], capture_output=True, text=True, check=True,
                         env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    return sorted(line.removeprefix("::/") for line in res.stdout.splitlines() if line.strip())

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(shutil.which(t) is None for t in ("mkfs.vfat", "mcopy", "syslinux")),
                       reason="needs dosfstools, mtools, syslinux"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("media")
    images = {"rpi-3-b": out / "rpi3.img", "rpi-4-b": out / "rpi4.img"}
    for model, path in images.items():
        assert main(["media", str(BOARDS / "rpi.yaml"), "--model", model,
                     "--out", str(path)]) == 0
    images["pc"] = out / "pc.img"
    assert main(["media", str(BOARDS / "qemu-x86-64.yaml"), "--out", str(images["pc"])]) == 0
    return images


@pytest.mark.parametrize(("model", "expected"), [
    ("rpi-3-b", {"bootcode.bin", "start.elf", "fixup.dat", "bcm2837-rpi-3-b.dtb"}),
    ("rpi-4-b", {"start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb"}),
])
def test_rpi_card_holds_firmware_config_uboot_dtb_and_boot_scr(
        built: dict[str, Path], model: str, expected: set[str]) -> None:
    image = built[model]
    names = set(list_fat(image, 2048))
    assert names == expected | {"config.txt", "u-boot.bin", "boot.scr"}
    side = json.loads(image.with_name(image.name + ".json").read_text())
    assert side["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert side["size"] == image.stat().st_size == 64 * 1024 * 1024
    by_path = {f["path"]: f for f in side["files"]}
    assert set(by_path) == names
    assert {p for p, f in by_path.items() if f["non_free"]} == set(side["non_free"]) == \
        {n for n in expected if not n.endswith(".dtb")}
    uboot = "rpi_3" if model == "rpi-3-b" else "rpi_4"
    tree = fetch_tree("u-boot-rpi", "arm64")
    want = (tree.root / f"usr/lib/u-boot/{uboot}/u-boot.bin").read_bytes()
    assert by_path["u-boot.bin"]["sha256"] == hashlib.sha256(want).hexdigest()
    assert by_path["u-boot.bin"]["version"] == tree.version
    assert by_path["bootcode.bin" if model == "rpi-3-b" else "start4.elf"]["package"] == \
        "raspi-firmware"
    assert "/dev/<" in side["write"]["dd"] and str(image.parent) not in image.with_name(
        image.name + ".md").read_text()
    # The partition is what the sidecar says: its bytes hash to the listed config.txt.
    blob = image.read_bytes()
    assert blob[510:512] == b"\x55\xaa" and blob[446 + 4] == 0x0E


def test_pc_key_boots_syslinux_and_ipxe(built: dict[str, Path]) -> None:
    image = built["pc"]
    names = set(list_fat(image, 2048))
    assert {"ipxe.lkrn", "boot.ipxe", "syslinux.cfg", "ldlinux.sys", "ldlinux.c32",
            "EFI/BOOT/BOOTX64.EFI", "autoexec.ipxe"} <= names
    side = json.loads(image.with_name(image.name + ".json").read_text())
    assert side["raw"][0]["sector"] == 0 and side["raw"][0]["package"] == "syslinux-common"
    mbr_code = Path("/usr/lib/syslinux/mbr/mbr.bin").read_bytes()[:440]
    assert image.read_bytes()[:440] == mbr_code
    # Debian 12's iPXE predates autoexec.ipxe: the sidecar says so instead of pretending.
    assert any("autoexec" in n for n in side["notes"])


def test_same_inputs_same_bytes(built: dict[str, Path], tmp_path: Path) -> None:
    again = _build(BOARDS / "rpi.yaml", tmp_path / "rpi4.img", model="rpi-4-b")
    assert again.image.read_bytes() == built["rpi-4-b"].read_bytes()
    pc = _build(BOARDS / "qemu-x86-64.yaml", tmp_path / "pc.img")
    assert pc.image.read_bytes() == built["pc"].read_bytes()


def _fails(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*argv, "--out", str(out)]) == 2
    assert not out.exists() and not list(out.parent.glob(f"{out.name}*"))
    return capsys.readouterr().err


def test_bad_inputs_are_clear_errors_and_leave_no_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["media", str(BOARDS / "rpi.yaml"), "--model", "rpi-9"], tmp_path / "a.img",
                 capsys)
    assert "model 'rpi-9' is not in profile rpi" in err and "Traceback" not in err
    err = _fails(["media", str(BOARDS / "nanopi-r5c.yaml")], tmp_path / "b.img", capsys)
    assert "u-boot/nanopi-r5c/idbloader.img" in err and "does not exist" in err
    profile = tmp_path / "board.yaml"
    profile.write_text(OTHER_BOARD.format(first="{name: idbloader.img, sector: 64, "
                                                "package: waltport-no-such-firmware, "
                                                "path: usr/lib/idbloader.img}"))
    err = _fails(["media", str(profile)], tmp_path / "c.img", capsys)
    assert "waltport-no-such-firmware" in err


OTHER_BOARD = """
name: rock64
arch: arm64
bootloader: uboot
dhcp_identifier: vci
model: rock64
uboot: {{boot_command: booti}}
media:
  partition_start: 32768
  binaries:
    - {first}
    - {{name: u-boot.itb, sector: 16384, file: porter/u-boot.itb}}
"""


def test_other_uboot_board_gets_its_binaries_at_their_sectors(tmp_path: Path) -> None:
    (tmp_path / "porter").mkdir()
    itb = b"porter-built u-boot.itb\n" * 100
    (tmp_path / "porter" / "u-boot.itb").write_bytes(itb)
    profile = tmp_path / "rock64.yaml"
    profile.write_text(OTHER_BOARD.format(
        first="{name: idbloader.img, sector: 64, package: u-boot-rockchip, "
              "path: usr/lib/u-boot/rock64-rk3328/idbloader.img}"))
    res = _build(profile, tmp_path / "rock64.img")
    blob = res.image.read_bytes()
    tree = fetch_tree("u-boot-rockchip", "arm64")
    idb = (tree.root / "usr/lib/u-boot/rock64-rk3328/idbloader.img").read_bytes()
    assert blob[64 * SECTOR:64 * SECTOR + len(idb)] == idb
    assert blob[16384 * SECTOR:16384 * SECTOR + len(itb)] == itb
    assert list_fat(res.image, 32768) == ["boot.scr"]
    raw = {e.path: e for e in res.sidecar.raw}
    assert raw["idbloader.img"].package == "u-boot-rockchip"
    assert raw["idbloader.img"].version == tree.version
    assert raw["u-boot.itb"].package == "porter" and raw["u-boot.itb"].sector == 16384


def test_package_links_resolve_inside_the_unpacked_tree(tmp_path: Path) -> None:
    tree = tmp_path / "root"
    (tree / "boot").mkdir(parents=True)
    (tree / "boot" / "ipxe.efi").write_bytes(b"inside")
    (tree / "usr/lib/ipxe").mkdir(parents=True)
    (tree / "usr/lib/ipxe/ipxe.efi").symlink_to("/boot/ipxe.efi")     # as Debian's ipxe ships it
    (tree / "usr/lib/ipxe/passwd").symlink_to("../../../../../../etc/passwd")
    (tree / "loop").symlink_to("loop")
    assert read_in_tree(tree, "usr/lib/ipxe/ipxe.efi") == b"inside"
    with pytest.raises(MediaError, match="no such file"):
        read_in_tree(tree, "usr/lib/ipxe/passwd")                    # /etc/passwd of the tree
    with pytest.raises(MediaError, match="too many symbolic links"):
        read_in_tree(tree, "loop")
