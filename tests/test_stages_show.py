"""What the notebooks display: a wrong key is an error, never an empty table."""

from __future__ import annotations

import pytest

from waltport.pipeline.results import Check, StageResult
from waltport.stages import show

PASSED = StageResult("image", "pass", (Check("x", "pass"),),
                     data={"imports": [{"tag": "docker.io/waltplatform/m-default:latest",
                                        "labels": {"walt.node.models": "m"}}],
                           "import_commands": ["podman load -i /tmp/m.tar"], "lint": []})


def test_rows_and_plain_values() -> None:
    t = show.data_table(PASSED, "imports", columns=["tag", "labels"])
    assert "docker.io/waltplatform/m-default:latest" in t.text
    assert "walt.node.models=m" in t.text
    assert "podman load -i /tmp/m.tar" in show.data_table(PASSED, "import_commands").text
    assert show.data_table(PASSED, "lint", title="lint findings").text == "lint findings: none"


def test_unknown_key_of_a_passing_stage_raises() -> None:
    with pytest.raises(show.ShowError, match=r"records no 'import'.*imports, lint"):
        show.data_table(PASSED, "import", "commands")


def test_a_stage_that_did_not_pass_says_so() -> None:
    failed = StageResult("image", "error", (Check("image ran", "error"),))
    t = show.data_table(failed, "imports", title="imports")
    assert t.text == "imports: not recorded (stage error)"
