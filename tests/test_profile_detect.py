"""The sub-model simulator, with the semantics of the generated U-Boot/iPXE scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.profile.detect import DetectError, check_samples, detect, uboot_sub
from waltport.profile.load import load_profile

BOARDS = Path(__file__).resolve().parent.parent / "boards"

RPI = {
    "bcm2835-rpi-b.dtb": "rpi-b",
    "bcm2835-rpi-b-rev2.dtb": "rpi-b",
    "bcm2835-rpi-b-plus.dtb": "rpi-b-plus",
    "bcm2709-rpi-2-b.dtb": "rpi-2-b",
    "bcm2710-rpi-3-b.dtb": "rpi-3-b",
    "bcm2710-rpi-3-b-plus.dtb": "rpi-3-b-plus",
    "bcm2711-rpi-4-b.dtb": "rpi-4-b",
    "bcm2711-rpi-400.dtb": "rpi-400",
    "bcm2712-rpi-5-b.dtb": "rpi-5-b",
}


@pytest.mark.parametrize("fdtfile,model", sorted(RPI.items()))
def test_rpi_models(fdtfile: str, model: str) -> None:
    profile = load_profile(BOARDS / "rpi.yaml")
    result = detect(profile, {"fdtfile": fdtfile})
    assert result.model == model
    assert result.known
    assert result.identifier == f"walt.node.{model}"
    # arm64 U-Boot builds prefix the vendor directory; same answer.
    assert detect(profile, {"fdtfile": "broadcom/" + fdtfile}).model == model


def test_unknown_dtb_gives_unknown_model() -> None:
    profile = load_profile(BOARDS / "rpi.yaml")
    result = detect(profile, {"fdtfile": "bcm2711-rpi-cm4.dtb"})
    assert result.model == "rpi-cm4"
    assert not result.known


def test_missing_variable_is_an_error() -> None:
    with pytest.raises(DetectError, match="fdtfile"):
        detect(load_profile(BOARDS / "rpi.yaml"), {})


def test_no_match_leaves_value_unchanged() -> None:
    # U-Boot prints "No match" and leaves the variable as it was.
    assert uboot_sub("abc", "x", "y") == ("abc", False)
    assert uboot_sub("a-b-c", "-", "") == ("ab-c", True)  # first match only


def test_coral_table_sets_dtb() -> None:
    profile = load_profile(BOARDS / "coral-dev-board.yaml")
    assert detect(profile, {"baseboardid": "2"}).variables == {
        "walt_dtb": "fsl-imx8mq-yorktown.dtb"}
    fallback = detect(profile, {"baseboardid": "7"})
    assert fallback.model == "coral-dev-board"
    assert fallback.variables["walt_dtb"] == "fsl-imx8mq-phanbell.dtb"


def test_ipxe_cpuid() -> None:
    profile = load_profile(BOARDS / "qemu-x86-64.yaml")
    assert detect(profile, cpu_64bit=True).model == "pc-x86-64"
    assert detect(profile, cpu_64bit=False).model == "pc-x86-32"


def test_single_model_boards() -> None:
    assert detect(load_profile(BOARDS / "qemu-arm64.yaml")).model == "qemu-arm64"


@pytest.mark.parametrize("path", sorted(BOARDS.glob("*.yaml")), ids=lambda p: p.stem)
def test_samples_agree(path: Path) -> None:
    assert check_samples(load_profile(path)) == []
