"""The CLI: exit codes and one-line errors for the foundation commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from waltport.cli import main

BOARDS = Path(__file__).resolve().parent.parent / "boards"


def test_check_ok(capsys) -> None:
    assert main(["check", str(BOARDS / "rpi.yaml")]) == 0
    assert "10 sample(s) agree" in capsys.readouterr().out


def test_check_invalid_exit_2_lists_all(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("name: B\narch: sparc\nbootloader: grub\ndhcp_identifier: vci\nmodel: b\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    for field in ("- name:", "- arch:", "- bootloader:"):
        assert field in err
    assert "Traceback" not in err


def test_check_sample_disagreement(tmp_path: Path, capsys) -> None:
    text = (BOARDS / "rpi.yaml").read_text().replace("bcm2711-rpi-400.dtb: rpi-400",
                                                     "bcm2711-rpi-400.dtb: rpi-4-b")
    p = tmp_path / "rpi.yaml"
    p.write_text(text)
    assert main(["check", str(p)]) == 2
    assert "expects rpi-4-b, the rules give rpi-400" in capsys.readouterr().out


def test_detect_cli(capsys) -> None:
    assert main(["detect", str(BOARDS / "rpi.yaml"), "fdtfile=bcm2709-rpi-2-b.dtb"]) == 0
    assert capsys.readouterr().out.strip() == "rpi-2-b"
    assert main(["detect", str(BOARDS / "qemu-x86-64.yaml"), "--cpu", "32"]) == 0
    assert capsys.readouterr().out.strip() == "pc-x86-32"
    assert main(["detect", str(BOARDS / "rpi.yaml"),
                 "fdtfile=broadcom/bcm2712-rpi-5-b.dtb", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["identifier"] == "walt.node.rpi-5-b"
    assert [s["matched"] for s in doc["steps"]] == [True, True, True, False]


@pytest.mark.parametrize("argv,code", [
    (["detect", "RPI", "fdtfile"], 2),                 # not VAR=VALUE
    (["detect", "RPI"], 2),                            # source variable missing
    (["detect", "RPI", "fdtfile=bcm2711-rpi-cm4.dtb"], 1),  # unknown model
])
def test_detect_errors(argv: list[str], code: int, capsys) -> None:
    argv = [str(BOARDS / "rpi.yaml") if a == "RPI" else a for a in argv]
    assert main(argv) == code
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_entry_point() -> None:
    res = subprocess.run([sys.executable, "-m", "waltport.cli", "check",
                          str(BOARDS / "nanopi-r5c.yaml")], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    """``waltport ... | head -0``: the pipe is closed before waltport writes."""
    proc = subprocess.Popen([sys.executable, "-m", "waltport.cli", "check",
                             str(BOARDS / "rpi.yaml")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err
