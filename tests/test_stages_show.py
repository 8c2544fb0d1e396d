"""What the notebooks display: a wrong key is an error, never an empty table."""

from __future__ import annotations

import pytest

from waltport.evidence.facts import ImageFacts
from waltport.evidence.results import Check, StageResult
from waltport.stages import show

PASSED = StageResult("image", "pass", (Check("x", "pass"),),
                     data=ImageFacts(imports=({"tag": "docker.io/waltplatform/m-default:latest",
                                               "labels": {"walt.node.models": "m"}},),
                                     import_commands=("podman load -i /tmp/m.tar",),
                                     models=()))


def test_rows_and_plain_values() -> None:
    t = show.data_table(PASSED, "imports", columns=["tag", "labels"])
    assert "docker.io/waltplatform/m-default:latest" in t.text
    assert "walt.node.models=m" in t.text
    assert "podman load -i /tmp/m.tar" in show.data_table(PASSED, "import_commands").text
    assert show.data_table(PASSED, "models", title="models").text == "models: none"


def test_unknown_key_of_a_passing_stage_raises() -> None:
    with pytest.raises(show.ShowError, match=r"writes no 'import.commands'.*has.*imports"):
        show.data_table(PASSED, "import", "commands")


def test_a_key_the_stage_never_writes_is_refused_whatever_its_status() -> None:
    # network's key asked of the image stage: not "not recorded", a wrong notebook cell.
    failed = StageResult("image", "error", (Check("image ran", "error"),))
    with pytest.raises(show.ShowError, match=r"stage image writes no 'dhcp_rows'"):
        show.data_table(failed, "dhcp_rows")


def test_a_known_key_the_stage_did_not_record_when_passing_raises() -> None:
    with pytest.raises(show.ShowError, match=r"records no 'labels'"):
        show.data_table(PASSED, "labels")


def test_a_stage_that_did_not_pass_says_so() -> None:
    failed = StageResult("image", "error", (Check("image ran", "error"),))
    t = show.data_table(failed, "imports", title="imports")
    assert t.text == "imports: not recorded (stage error)"
