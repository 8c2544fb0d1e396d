"""Typed facts per stage: real stage files read back into their types and written again
unchanged; a key a stage does not write is refused, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_fixtures import BOARDS, assert_round_trip

from waltport.evidence.facts import (
    ArtifactHash,
    BoardFacts,
    BootloaderFacts,
    FactsError,
    FetchedFile,
    FirstBootFacts,
    ImageFacts,
    NetworkFacts,
    TftpTransfer,
)
from waltport.evidence.results import ResultError, StageResult, facts_of, read_result
from waltport.stages import board, bootloader


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("facts")
    for name in ("rpi", "qemu-x86-64"):
        board.run(str(BOARDS / f"{name}.yaml"), str(out / name))
        bootloader.run(str(BOARDS / f"{name}.yaml"), str(out / name))
    board.run(str(BOARDS / "qemu-x86-64.yaml"), str(out / "one"), model="pc-x86-32")
    board.run(str(BOARDS / "qemu-x86-64.yaml"), str(out / "bad"), model="no-such-model")
    return out


def test_real_board_and_bootloader_files_round_trip(real_run: Path) -> None:
    files = sorted(real_run.glob("*/board.json")) + sorted(real_run.glob("*/bootloader.json"))
    assert len(files) == 6
    for path in files:
        assert_round_trip(path)
    rpi = read_result(real_run / "rpi" / "board.json").facts(BoardFacts)
    assert rpi.name == "rpi" and "walt.node.rpi-3-b" in (rpi.identifiers or ())
    assert rpi.model is None and "model" not in rpi.to_json()      # a family: no one model
    one = read_result(real_run / "one" / "board.json").facts(BoardFacts)
    assert (one.model, one.arch, one.models) == ("pc-x86-32", "x86", ("pc-x86-32",))
    boot = read_result(real_run / "rpi" / "bootloader.json").facts(BootloaderFacts)
    assert boot.artifacts and all(isinstance(a, ArtifactHash) and len(a.sha256) == 64
                                  for a in boot.artifacts)
    assert {a.file for a in boot.artifacts} >= {"bootloader/start.uboot"}


def test_facts_are_read_through_their_type(real_run: Path) -> None:
    results = {"board": read_result(real_run / "rpi" / "board.json")}
    assert facts_of(results, BoardFacts) == results["board"].data
    assert facts_of(results, ImageFacts) is None            # the image stage did not run
    with pytest.raises(ResultError, match="its facts are BoardFacts, not NetworkFacts"):
        results["board"].facts(NetworkFacts)


def test_a_key_the_stage_does_not_write_is_refused() -> None:
    with pytest.raises(FactsError, match=r"NetworkFacts has no key\(s\) vci_sen "):
        NetworkFacts.from_json({"vci_sen": ["walt.node.x"]}, "network.json: data")
    obj = {"schema": "waltport.stage/1", "stage": "image", "status": "pass",
           "data": {"reference": "x", "refrence": "y"}}
    with pytest.raises(ResultError, match=r"image\.json: data: ImageFacts has no key.*refrence"):
        StageResult.from_json(obj, "image.json")


def test_a_stage_result_holds_its_own_stage_facts() -> None:
    assert StageResult("network", "pass").data == NetworkFacts()
    with pytest.raises(ValueError, match="data is ImageFacts, expected NetworkFacts"):
        StageResult("network", "pass", data=ImageFacts())


def test_files_served_keep_their_kind_and_every_key() -> None:
    # A capture's transfer has every key (blksize null when not negotiated); a file the
    # boot report says was fetched has path and bytes only.
    wire = [{"path": "start.uboot", "bytes": 789, "complete": True, "client": "10.99.0.10",
             "seconds": 0.01, "blksize": None}]
    net = NetworkFacts.from_json({"files_served": wire})
    assert net.files_served == (TftpTransfer("start.uboot", 789, True, "10.99.0.10", 0.01, None),)
    assert net.to_json() == {"files_served": wire}
    boot = FirstBootFacts.from_json({"files_served": [{"path": "kernel", "bytes": 5}]})
    assert boot.files_served == (FetchedFile("kernel", 5),)


def test_a_recorded_boot_writes_its_nulls_as_the_stage_always_did() -> None:
    # first_boot._judge records target, stand_in, reliability... with the boots, null or not.
    facts = FirstBootFacts(image_root="lab", boots=1, reached_userspace=1, boot={"boots": []})
    assert list(facts.to_json()) == ["image_root", "target", "stand_in", "boots",
                                     "reached_userspace", "reliability", "stage_timings", "boot"]
    assert FirstBootFacts(image_root="lab").to_json() == {"image_root": "lab"}
    net = NetworkFacts(mode="lab", lab_boot={"ok": True})
    assert net.to_json() == {"mode": "lab", "lab_boot": {"ok": True}, "stand_in": None}


def test_a_bug_s_traceback_is_kept_last() -> None:
    facts = ImageFacts(source="x", traceback="Traceback ...")
    assert list(facts.to_json()) == ["source", "traceback"]
    assert ImageFacts.from_json(facts.to_json()) == facts
