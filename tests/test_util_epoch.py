"""SOURCE_DATE_EPOCH read in one place: unset, valid, and refused values."""

from __future__ import annotations

import pytest

from waltport.cli import main
from waltport.util.epoch import EpochError, declared_epoch, source_date_epoch


@pytest.mark.parametrize(("raw", "declared", "used"), [(None, None, 0), ("", None, 0),
                                                       ("0", 0, 0), ("1700000000", 1700000000,
                                                                     1700000000)])
def test_values(monkeypatch: pytest.MonkeyPatch, raw: str | None, declared: int | None,
                used: int) -> None:
    if raw is None:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", raw)
    assert (declared_epoch(), source_date_epoch()) == (declared, used)


@pytest.mark.parametrize(("raw", "why"), [("yesterday", "not an integer"), ("-1", "negative"),
                                          ("1.5", "not an integer")])
def test_refused(monkeypatch: pytest.MonkeyPatch, raw: str, why: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", raw)
    with pytest.raises(EpochError, match=why):
        declared_epoch()


def test_cli_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                capsys: pytest.CaptureFixture[str], boards_dir: object) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert main(["bootloader", f"{boards_dir}/qemu-arm64.yaml", "--out", f"{tmp_path}/o"]) == 2
    err = capsys.readouterr().err
    assert "SOURCE_DATE_EPOCH='yesterday' is not an integer" in err and "Traceback" not in err
