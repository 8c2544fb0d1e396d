"""The report stage: the pipeline's own last stage, assembling what the others recorded."""

from __future__ import annotations

from pathlib import Path

from pipeline_fixtures import BOARDS, assert_round_trip

from waltport.evidence.facts import ReportFacts
from waltport.pipeline.assemble import report_stage, write_run_file
from waltport.pipeline.registry import PARAMETERS, select
from waltport.stages import board, bootloader


def test_report_stage_writes_the_reports_and_its_own_result(tmp_path: Path) -> None:
    profile = str(BOARDS / "qemu-arm64.yaml")
    write_run_file(tmp_path, profile, PARAMETERS, select(["board", "bootloader", "report"]))
    board.run(profile, str(tmp_path))
    bootloader.run(profile, str(tmp_path))
    res = report_stage(tmp_path)
    assert (res.stage, res.status, res.message) == ("report", "pass", "all stages pass")
    assert res.facts(ReportFacts).ok is True
    for name in ("summary.json", "report.html", "report.md", "junit.xml"):
        assert res.artifacts[name] == name and (tmp_path / name).is_file()
    assert assert_round_trip(tmp_path / "report.json").data == ReportFacts(ok=True)
