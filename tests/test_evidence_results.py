"""Stage result records: schema, status rules, atomic JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waltport.evidence.facts import NetworkFacts
from waltport.evidence.results import (
    Check,
    ResultError,
    StageResult,
    read_result,
    read_results,
    status_from_checks,
    write_result,
)


def test_round_trip_through_json(tmp_path: Path) -> None:
    checks = (Check("VCI on the wire", "fail", True, "saw U-Boot.armv8"),
              Check("pcap", "pass", False, "12 packets"))
    res = StageResult("network", "fail", checks,
                      {"capture": 1.23456}, {"pcap": "network/capture.pcap"},
                      NetworkFacts(vci_seen=("U-Boot.armv8",)), "no walt.node VCI")
    path = write_result(tmp_path, res)
    assert path == tmp_path / "network.json"
    back = read_result(path)
    assert back.checks == res.checks and back.data == res.data and back.message == res.message
    assert back.timings == {"capture": 1.235}
    assert [p.name for p in tmp_path.iterdir()] == ["network.json"]   # no temporary left


@pytest.mark.parametrize(("statuses", "expected"), [
    ([("pass", True), ("skip", True)], "pass"),
    ([("pass", True), ("fail", False)], "pass"),      # an optional check does not fail a stage
    ([("pass", True), ("fail", True)], "fail"),
    ([("fail", True), ("error", False)], "error"),
    ([], "pass"),
])
def test_status_from_checks(statuses: list[tuple[str, bool]], expected: str) -> None:
    checks = [Check(f"c{i}", s, m) for i, (s, m) in enumerate(statuses)]  # type: ignore[arg-type]
    assert status_from_checks(checks) == expected


def test_bad_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(ResultError, match=r"a\.json"):
        read_result(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"schema": "other/1"}))
    with pytest.raises(ResultError, match="not a stage result"):
        read_result(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(json.dumps({"schema": "waltport.stage/1", "stage": "c",
                                                 "status": "maybe"}))
    with pytest.raises(ResultError, match="malformed"):
        read_result(tmp_path / "c.json")


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        Check("x", "ok")  # type: ignore[arg-type]


def test_read_results_leaves_out_missing(tmp_path: Path) -> None:
    write_result(tmp_path, StageResult("board", "pass"))
    assert list(read_results(tmp_path, ["board", "network"])) == ["board"]
