"""Sub-model detection run inside real U-Boot (qemu_arm64) and compared with the simulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from waltport.cli import main
from waltport.lab.crosscheck import (
    CrossCheckError,
    Sample,
    parse_result,
    plan,
    run_crosscheck,
    typed_commands,
)
from waltport.profile.load import load_profile
from waltport.profile.model import Profile

ROOT = Path(__file__).resolve().parent.parent
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None or
                                not Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin").exists(),
                                reason="qemu-system-aarch64 / u-boot-qemu not installed")


def _rpi_with(**changes: object) -> Profile:
    data = yaml.safe_load((ROOT / "boards" / "rpi.yaml").read_text())
    data.update(changes)
    # Detection only: boot files name models this variant may not keep.
    data.pop("boot_files", None)
    return Profile.model_validate(data)


def test_plan_and_typed_commands() -> None:
    source, samples = plan(load_profile(ROOT / "boards" / "rpi.yaml"))
    assert source == "fdtfile" and len(samples) == 10
    assert all(s.simulated == s.expected for s in samples)
    cmds = typed_commands(source, samples[0], ["setenv walt_model ${fdtfile}"])
    assert cmds[0] == "setenv fdtfile bcm2835-rpi-b.dtb" and cmds[1] == "setenv walt_model"
    assert cmds[-1] == "echo WPX-RESULT-0 ${walt_model} WPX-END"
    # The typed echo line (with "=> " in front) must never look like a result.
    assert parse_result("=> " + cmds[-1]) is None
    assert parse_result("WPX-RESULT-3 rpi-4-b WPX-END") == (3, "rpi-4-b")
    assert parse_result("WPX-RESULT-3  WPX-END") == (3, None)
    with pytest.raises(CrossCheckError, match="interpret"):
        typed_commands(source, Sample(0, "a;reset", "rpi-b", "rpi-b"), [])


@pytest.mark.parametrize("board, message", [
    ("qemu-x86-64.yaml", "not a U-Boot board"),
    ("qemu-arm64.yaml", "no U-Boot detection rules"),
])
def test_plan_refuses(board: str, message: str) -> None:
    with pytest.raises(CrossCheckError, match=message):
        plan(load_profile(ROOT / "boards" / board))


@needs_qemu
@pytest.mark.qemu
def test_rpi_samples_agree_in_real_uboot(tmp_path: Path) -> None:
    check = run_crosscheck(load_profile(ROOT / "boards" / "rpi.yaml"), out_dir=tmp_path)
    assert check.ok, check.summary()
    assert len(check.samples) == 10
    assert {s.uboot for s in check.samples} == {"rpi-b", "rpi-b-plus", "rpi-2-b", "rpi-3-b",
                                                "rpi-3-b-plus", "rpi-4-b", "rpi-400", "rpi-5-b"}
    log = (tmp_path / "crosscheck-console-0.log").read_text()
    assert "U-Boot 2023.01" in log and "walt_model=rpi-3-b-plus" in log  # setexpr's own output
    assert (tmp_path / "crosscheck.json").exists()


@needs_qemu
@pytest.mark.qemu
def test_disagreement_and_reset_are_reported(tmp_path: Path) -> None:
    # A wrong expectation, and a table without default: U-Boot resets on "bcm2835-rpi-b"
    # (its model is not in the table), the check goes on in a new U-Boot run.
    profile = _rpi_with(
        models=["rpi-3-b", "rpi-4-b"],
        detect={"method": "uboot", "source": "fdtfile",
                "substitutions": [{"regex": "^bcm[0123456789]*-", "replace": ""},
                                  {"regex": "[.]dtb$", "replace": ""}],
                "table": {"rpi-3-b": {"model": "rpi-3-b"}, "rpi-4-b": {"model": "rpi-4-b"}}},
        samples={"bcm2710-rpi-3-b.dtb": "rpi-4-b", "bcm2835-rpi-b.dtb": "rpi-3-b",
                 "bcm2711-rpi-4-b.dtb": "rpi-4-b"})
    check = run_crosscheck(profile, out_dir=tmp_path)
    assert not check.ok
    by_value = {s.value: s for s in check.samples}
    wrong = by_value["bcm2710-rpi-3-b.dtb"]
    assert (wrong.uboot, wrong.simulated, wrong.ok) == ("rpi-3-b", "rpi-3-b", False)
    reset = by_value["bcm2835-rpi-b.dtb"]
    assert (reset.uboot, reset.simulated) == (None, None)
    assert by_value["bcm2711-rpi-4-b.dtb"].ok
    assert (tmp_path / "crosscheck-console-1.log").exists()   # the second U-Boot run


@needs_qemu
@pytest.mark.qemu
def test_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["lab", "crosscheck", str(ROOT / "boards" / "rpi.yaml"), "--out",
                 str(tmp_path)]) == 0
    assert "agree on 10 value(s)" in capsys.readouterr().out
    assert main(["lab", "crosscheck", str(ROOT / "boards" / "qemu-arm64.yaml")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no U-Boot detection rules" in err[0]
