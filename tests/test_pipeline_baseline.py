"""Reproducibility a maintainer can check: the same profile run twice, the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_fixtures import BOARDS, _jupyter_dirs, jupyter_root  # noqa: F401

from waltport.cli import main
from waltport.pipeline.baseline import compare


def test_compare_names_identical_different_and_missing() -> None:
    out = compare({"a": "1", "b": "2", "new": "3"}, {"a": "1", "b": "9", "gone": "4"}, "old")
    assert out["identical"] == ["a"] and out["only_here"] == ["new"]
    assert out["different"] == [{"artifact": "b", "sha256": "2", "baseline": "9"}]
    assert out["only_in_baseline"] == ["gone"] and out["reproducible"] is False
    assert compare({"a": "1"}, {"a": "1"}, "old")["reproducible"] is True


@pytest.mark.slow
def test_same_profile_twice_gives_identical_artifacts(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    prof = str(BOARDS / "rpi.yaml")
    args = ["run", prof, "--stages", "board,bootloader", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "two"), "--baseline", str(tmp_path / "one")]) == 0
    s = json.loads((tmp_path / "two" / "summary.json").read_text())
    base = s["baseline"]
    assert base["reproducible"] is True and base["different"] == []
    files = {a["file"] for a in s["boot_artifacts"]}
    assert {"bootloader/boot.scr", "bootloader/start.uboot"} <= files
    assert not [f for f in files if "/." in f]      # the output marker is no boot artifact
    assert set(base["identical"]) == files
    assert base["run"] == "../one"                   # no host path, not even the baseline's
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert str(tmp_path) not in json.dumps(run) and run["parameters"]["out_dir"] == "."
    md = (tmp_path / "two" / "report.md").read_text()
    assert f"Reproducible: compared with the earlier run `../one`, {len(files)} artifact(s) " \
           "byte-identical" in md
    out = capsys.readouterr().out
    assert f"bundle: {tmp_path / 'two' / 'waltport-bundle.zip'}" in out
    assert main([*args, "--out", str(tmp_path / "three"), "--baseline",
                 str(tmp_path / "nothing")]) == 2
