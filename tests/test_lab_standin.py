"""Stand-in runs: real U-Boot standing in for a family the lab has no board of."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import boot_failures

from waltport.cli import main
from waltport.lab.standin import StandInError, stand_in_for
from waltport.profile.load import load_profile
from waltport.profile.model import Profile

BOARDS = Path(__file__).resolve().parent.parent / "boards"


def _profile(name: str) -> Profile:
    return load_profile(BOARDS / f"{name}.yaml")


def test_who_needs_a_stand_in() -> None:
    rpi = stand_in_for(_profile("rpi"), "rpi-4-b")
    assert rpi is not None and rpi.variables == {"fdtfile": "bcm2711-rpi-4-b.dtb"}
    assert "fdtfile=bcm2711-rpi-4-b.dtb in its stored environment" in rpi.describe()
    nanopi = stand_in_for(_profile("nanopi-r5c"), "nanopi-r5c")   # no detection, but a dtb
    assert nanopi is not None and nanopi.variables == {}
    assert nanopi.needs == ("the board to run its kernel and dtb",)
    assert stand_in_for(_profile("qemu-arm64"), "qemu-arm64") is None
    assert stand_in_for(_profile("qemu-x86-64"), "pc-x86-32") is None


def test_a_model_without_a_sample_has_no_stand_in() -> None:
    prof = _profile("rpi")
    bare = prof.model_copy(update={"samples": {k: v for k, v in prof.samples.items()
                                               if v != "rpi-400"}})
    with pytest.raises(StandInError, match="no sample value of fdtfile selects 'rpi-400'"):
        stand_in_for(bare, "rpi-400")


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("qemu-system-aarch64") is None,
                    reason="needs root and QEMU")
def test_rpi4_stand_in_in_real_uboot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # detection -> DHCP with walt.node.rpi-4-b -> start.uboot of boot/rpi-4-b/ served and run
    code = main(["lab", "boot", str(BOARDS / "rpi.yaml"), "--model", "rpi-4-b", "--json",
                 "--lab", f"wpbench-si{os.getpid() % 100000}", "--out", str(tmp_path),
                 "--timeout", "120"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, boot_failures(report)
    assert "fdtfile=bcm2711-rpi-4-b.dtb" in report["stand_in"]
    stages = {s["name"]: s for s in report["boots"][0]["stages"]}
    assert stages["walt_dhcp"]["evidence"]["vci"] == "walt.node.rpi-4-b"
    fetched = stages["second_stage_fetched"]
    assert fetched["status"] == "reached" and fetched["evidence"]["then_requested"] == ["kernel"]
    assert {stages[n]["status"] for n in ("kernel_fetched", "kernel_started", "userspace")} \
        == {"needs the board"}
    log = Path(report["boots"][0]["console_log"]).read_text()
    assert "Executing script" in log and "boot/rpi-4-b/kernel" in log


def test_a_family_without_models_asked_is_a_skip_not_an_error(tmp_path: Path) -> None:
    from waltport.stages import first_boot, network  # noqa: PLC0415 (pulls in the lab)

    for stage in (network, first_boot):
        result = stage.run(str(BOARDS / "rpi.yaml"), str(tmp_path))
        assert result.status != "error"
        (check,) = result.checks
        assert check.status == "skip" and "--models" in check.evidence


def test_which_model_boots() -> None:
    from waltport.lab.boot import BootFailed, resolve_model  # noqa: PLC0415

    assert resolve_model(_profile("coral-dev-board"), None) == "coral-dev-board"
    assert resolve_model(_profile("qemu-x86-64"), None) == "pc-x86-64"
    with pytest.raises(BootFailed, match=r"give --model \(one of rpi-b, "):
        resolve_model(_profile("rpi"), None)


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("qemu-system-arm") is None,
                    reason="needs root and QEMU")
def test_a_stand_in_fetches_the_kernel_of_the_image_it_is_given(tmp_path: Path) -> None:
    # A 32-bit Pi on Debian's qemu_arm U-Boot; the image root has the model's files.
    from waltport.lab.boot import boot_board  # noqa: PLC0415
    from waltport.lab.imageroot import required_files  # noqa: PLC0415
    from waltport.lab.standin import build_standin_root  # noqa: PLC0415

    prof = _profile("rpi")
    root = build_standin_root(prof, "rpi-2-b", tmp_path / "image")
    for name in required_files(prof)[1:]:
        (root / "boot" / "rpi-2-b" / name).write_bytes(os.urandom(70_000))
    report = boot_board(load_profile(BOARDS / "rpi.yaml"), model="rpi-2-b", image_root=root,
                        lab_name=f"wpbench-sk{os.getpid() % 100000}", out_dir=tmp_path / "out",
                        timeout=120)
    assert report.ok, report.summary()
    assert report.stand_in is not None and "qemu_arm U-Boot" in report.stand_in
    stages = {s.name: s for s in report.runs[0].stages}
    assert stages["kernel_fetched"].status == "reached"
    assert stages["kernel_fetched"].evidence["bytes"] == 70_000
    assert stages["kernel_started"].status == "needs the board"
