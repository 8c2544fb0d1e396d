"""The ``--out`` rule of every command (issue 14, items 2 and 4): waltport never deletes
files it did not write, refuses odd outputs with exit 2, and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from waltport.cli import main
from waltport.util.outdir import MARKER
from waltport.util.paths import boards_dir

ARM = str(boards_dir() / "qemu-arm64.yaml")


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _user_dir(path: Path) -> Path:
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    return path


def test_bootloader_refuses_a_directory_it_did_not_write(tmp_path: Path, capsys) -> None:
    out = _user_dir(tmp_path / "mine")
    before = _tree(tmp_path)
    assert main(["bootloader", ARM, "--out", str(out)]) == 2
    assert "not empty and was not written by waltport" in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_bootloader_force_writes_into_it_and_keeps_the_rest(tmp_path: Path) -> None:
    out = _user_dir(tmp_path / "mine")
    assert main(["bootloader", ARM, "--out", str(out), "--force"]) == 0
    assert (out / "thesis.tex").read_text() == "years of work"
    assert (out / "boot.scr").is_file() and not (out / MARKER).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
    # Still not all ours: the next run needs --force again (and is never a replacement).
    assert main(["bootloader", ARM, "--out", str(out)]) == 2
    assert main(["bootloader", ARM, "--out", str(out), "--force"]) == 0
    assert (out / "thesis.tex").read_text() == "years of work"


def test_bootloader_replaces_its_own_directory(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["bootloader", ARM, "--out", str(out)]) == 0
    (out / "stale").write_text("x")
    assert main(["bootloader", ARM, "--out", str(out)]) == 0
    assert not (out / "stale").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_bootloader_out_dot(tmp_path: Path, monkeypatch, capsys) -> None:
    cwd = _user_dir(tmp_path / "cwd")
    monkeypatch.chdir(cwd)
    assert main(["bootloader", ARM, "--out", "."]) == 2
    assert "not empty" in capsys.readouterr().err
    assert _tree(tmp_path) == ["cwd", "cwd/thesis.tex"]
    (cwd / "thesis.tex").unlink()
    assert main(["bootloader", ARM, "--out", "."]) == 0     # an empty cwd stays the cwd
    assert Path.cwd() == cwd and (cwd / "boot.scr").is_file()
    assert not [p for p in os.listdir(tmp_path) if p != "cwd"]


@pytest.mark.parametrize("case", ["file", "parent-is-file"])
def test_bootloader_out_that_is_not_a_directory(tmp_path: Path, capsys, case: str) -> None:
    f = tmp_path / "f"
    f.write_text("data")
    out = f if case == "file" else f / "sub"
    assert main(["bootloader", ARM, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and "Traceback" not in err
    assert _tree(tmp_path) == ["f"] and f.read_text() == "data"


@pytest.mark.parametrize("case", ["dir", "parent-is-file"])
def test_mkimage_output_errors(tmp_path: Path, capsys, case: str) -> None:
    src = tmp_path / "s.txt"
    src.write_text("echo hi\n")
    (tmp_path / "d").mkdir()
    out = tmp_path / "d" if case == "dir" else src / "x"
    assert main(["mkimage", "--arch", "arm64", "--name", "n", str(src), str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert _tree(tmp_path) == ["d", "s.txt"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to run the command as another user")
@pytest.mark.parametrize("argv", [["bootloader", ARM, "--out"],
                                  ["mkimage", "--arch", "arm64", "--name", "n", ARM]],
                         ids=["bootloader", "mkimage"])
def test_unwritable_parent_as_a_user(argv: list[str]) -> None:
    top = Path(tempfile.mkdtemp(prefix="hd-ro-"))     # reachable, not writable, by nobody
    try:
        top.chmod(0o755)
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-m", "waltport.cli", *argv, str(top / "out")],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "WALTPORT_STATE": str(top / "state"), "HOME": str(top)})
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "ermission denied" in done.stderr
        assert os.listdir(top) == []
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("argv", [
    ["run", ARM, "--stages", "board"],
    ["image", "import", "nosuch-image", "--model", "qemu-arm64"],
    ["lab", "boot", ARM],
    ["lab", "crosscheck", ARM],
], ids=["run", "image-import", "lab-boot", "lab-crosscheck"])
def test_every_out_follows_the_rule(tmp_path: Path, capsys, argv: list[str]) -> None:
    out = _user_dir(tmp_path / "mine")
    assert main([*argv, "--out", str(out)]) == 2
    assert "not empty and was not written by waltport" in capsys.readouterr().err
    assert _tree(tmp_path) == ["mine", "mine/thesis.tex"]


def test_capture_out_must_be_a_file(tmp_path: Path, capsys) -> None:
    assert main(["capture", "--interface", "lo", "--out", str(tmp_path), "--duration",
                 "0.1"]) == 2
    assert "is a directory" in capsys.readouterr().err
