"""The run's one boot: which results count as this run's, when the first boot reuses the boot.

No boot here: the run directories are written the way the runner and the
stages write them (run.json, stage results, the network stage's boot record).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline_fixtures import BOARDS

from waltport.evidence.facts import ImageFacts, NetworkFacts
from waltport.evidence.results import Check, StageResult, write_result
from waltport.pipeline.assemble import write_run_file
from waltport.pipeline.registry import PARAMETERS, select
from waltport.stages._boot import (
    LAB_ROOT,
    BootAsk,
    first_boot_follows,
    recorded_boot,
    run_image,
    stage_of_this_run,
)

PROFILE = str(BOARDS / "qemu-arm64.yaml")
IMAGE = "docker.io/waltplatform/qemu-arm64-default:latest"


def _run(rd: Path, stages: str) -> None:
    write_run_file(rd, PROFILE, PARAMETERS, select(stages.split(",")))


def _image(rd: Path, status: str = "pass") -> None:
    write_result(rd, StageResult("image", status, (Check("imported", status, True, ""),),  # type: ignore[arg-type]
                                 data=ImageFacts(reference=IMAGE)))


def _network_boot(rd: Path, ask: BootAsk) -> Path:
    report = rd / "network" / "lab" / "boot-report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"boots": [{"index": 0, "ok": True}], "model": "qemu-arm64"}))
    write_result(rd, StageResult("network", "pass", (), data=NetworkFacts(
        boot=ask.record("network/lab/boot-report.json"))))
    return report


def test_only_results_of_the_stages_this_run_ran_count(tmp_path: Path) -> None:
    _image(tmp_path)
    _run(tmp_path, "board,bootloader,network")      # an earlier run's image.json stays
    assert stage_of_this_run(tmp_path, "image") is None and run_image(tmp_path) is None
    _run(tmp_path, "image,network,first_boot")
    assert run_image(tmp_path) == IMAGE
    _image(tmp_path, "fail")
    assert run_image(tmp_path) is None
    # A stage function on its own (a notebook, no run.json): the directory is the run.
    (tmp_path / "run.json").unlink()
    _image(tmp_path)
    assert run_image(tmp_path) == IMAGE


def test_the_network_stage_boots_for_the_first_boot_only_when_it_follows(tmp_path: Path) -> None:
    _run(tmp_path, "board,bootloader,network")
    assert not first_boot_follows(tmp_path)         # network alone: one boot, its own
    _run(tmp_path, "network,first_boot")
    assert first_boot_follows(tmp_path)             # no image asked: the lab's root, shared
    _run(tmp_path, "image,network,first_boot")
    _image(tmp_path, "error")
    assert not first_boot_follows(tmp_path)         # the first boot will be skipped
    _image(tmp_path)
    assert first_boot_follows(tmp_path)


def test_the_first_boot_reuses_only_the_same_boot(tmp_path: Path) -> None:
    _run(tmp_path, "image,network,first_boot")
    ask = BootAsk(PROFILE, IMAGE, boots=2, lab_name="wpob-1")
    _network_boot(tmp_path, ask)
    found = recorded_boot(tmp_path, ask)
    assert found is not None and found[1] == "network/lab/boot-report.json"
    assert found[0]["boots"] == [{"index": 0, "ok": True}]
    # Another image, count, model or bench is another boot: the first boot boots itself.
    for other in (BootAsk(PROFILE, None, boots=2, lab_name="wpob-1"),
                  BootAsk(PROFILE, IMAGE, boots=3, lab_name="wpob-1"),
                  BootAsk(PROFILE, IMAGE, boots=2, lab_name="wpob-1", model="x"),
                  BootAsk(PROFILE, IMAGE, boots=2, lab_name="wpob-1", bench="b.yaml"),
                  # the profile edited after the network stage booted it
                  BootAsk(PROFILE, IMAGE, boots=2, lab_name="wpob-1", profile_digest="0" * 64)):
        assert recorded_boot(tmp_path, other) is None, other
    assert BootAsk(PROFILE, None).image_root == LAB_ROOT
    # A network result of an earlier run is not this run's boot.
    _run(tmp_path, "image,first_boot")
    assert recorded_boot(tmp_path, ask) is None
