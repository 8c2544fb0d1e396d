"""The boot medium of a run: from its recorded sidecar to the summary, report and bundle."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from media_fixtures import (  # noqa: F401 (session fixtures)
    BOARDS,
    MediumRun,
    arm64_medium,
    build_medium_run,
    needs_media_tools,
)

from waltport.evidence.facts import FirstBootFacts
from waltport.evidence.results import StageResult, write_result
from waltport.media.sidecar import Sidecar
from waltport.pipeline.assemble import assemble_run, write_run_file
from waltport.pipeline.bootmedia import (
    MEDIUM_ARTIFACT,
    media_views,
    mib,
    no_medium_reason,
    read_media,
)
from waltport.pipeline.bundle import MANIFEST, write_bundle
from waltport.pipeline.registry import PIPELINE_STAGES
from waltport.stages import board, bootloader
from waltport.util.paths import PROJECT_DIR

pytestmark = [needs_media_tools]


def test_read_media_gives_the_sidecar_as_recorded(arm64_medium: MediumRun) -> None:  # noqa: F811
    run = arm64_medium
    media = read_media(run.run_dir, {"first_boot": run.first_boot()})
    assert [(m["stage"], m["sidecar"]) for m in media] == [
        ("first_boot", "first_boot/sdcard.img.json")]
    written = json.loads((run.run_dir / "first_boot" / "sdcard.img.json").read_text())
    assert media[0]["medium"] == written
    assert written["sha256"] == run.image_sha256      # hashed here from the image's bytes
    view = media_views({"media": media}, "qemu-arm64", "qemu-arm64/")[0]
    assert view.sidecar is not None and view.sidecar.sha256 == run.image_sha256
    assert view.sidecar_file == "qemu-arm64/first_boot/sdcard.img.json"
    assert [e.path for e in view.sidecar.files] == ["boot.scr"]


def test_an_unreadable_sidecar_is_named_not_invented(tmp_path: Path) -> None:
    (tmp_path / "first_boot").mkdir()
    (tmp_path / "first_boot" / "bad.img.json").write_text('{"image": "bad.img"}')
    outside = tmp_path.parent / f"outside-{os.getpid()}.img.json"
    outside.write_text("{}")
    (tmp_path / "first_boot" / "link.img.json").symlink_to(outside)
    try:
        results = {"first_boot": StageResult("first_boot", "pass", artifacts={
            MEDIUM_ARTIFACT: "first_boot/bad.img.md"}), "other": StageResult(
            "other", "pass", artifacts={MEDIUM_ARTIFACT: "first_boot/link.img.json",
                                        "console": "first_boot/none.img.md"})}
        media = read_media(tmp_path, results)
    finally:
        outside.unlink()
    assert [m["sidecar"] for m in media] == ["first_boot/bad.img.json",
                                             "first_boot/link.img.json"]
    assert "not a medium sidecar (no 'partition')" in media[0]["error"]
    assert "not a file inside the run directory" in media[1]["error"]
    views = media_views({"media": media}, "x")
    assert [v.sidecar for v in views] == [None, None] and "no 'partition'" in views[0].error


def test_no_medium_says_why_from_what_the_boot_recorded() -> None:
    def boot(mode: str, **data: object) -> dict[str, StageResult]:
        return {"first_boot": StageResult("first_boot", "pass", data=FirstBootFacts.from_json({
            "boot": {"first_stage": mode, "model": "rpi-4-b"}, **data}))}
    assert no_medium_reason({}) == "the first boot did not run in this run"
    assert no_medium_reason({"first_boot": StageResult(
        "first_boot", "skip", message="network did not pass")}) == \
        "no board was booted (network did not pass)"
    assert no_medium_reason(boot("flash", target="virtual", stand_in="qemu virt")) == (
        "rpi-4-b booted in the lab (stand-in: qemu virt): its first stage was a stored "
        "U-Boot environment (the SPI-flash analog), not a card")
    assert "served by PXE" in no_medium_reason(boot("pxe"))
    assert no_medium_reason(boot("board", target="bench desk (interface)")).startswith(
        "rpi-4-b booted on bench desk (interface): the real board")
    assert no_medium_reason(boot("sdcard")).endswith("its first stage (sdcard) recorded no "
                                                     "medium sidecar")


def test_mib() -> None:
    assert (mib(64 << 20), mib(1000), mib(0)) == ("64 MiB", "1000 bytes", "0 bytes")


def test_sidecar_round_trip_and_write_commands_as_recorded(arm64_medium: MediumRun) -> None:  # noqa: F811
    obj = json.loads((arm64_medium.run_dir / "first_boot" / "sdcard.img.json").read_text())
    side = Sidecar.from_json(obj)
    assert json.loads(side.to_json()) == obj
    assert side.write_commands() == obj["write"]


def test_assembled_run_shows_the_medium_and_bundles_its_sidecar_not_the_image(
        tmp_path: Path) -> None:
    run = build_medium_run(tmp_path, "qemu-arm64")
    rd, prof = run.run_dir, str(BOARDS / "qemu-arm64.yaml")
    write_run_file(rd, prof, {"mode": "lab"}, [s for s in PIPELINE_STAGES if s.name != "report"])
    board.run(prof, str(rd))
    bootloader.run(prof, str(rd))
    write_result(rd, run.first_boot())
    summary = assemble_run(rd, with_versions=False)
    assert summary["media"][0]["medium"]["sha256"] == run.image_sha256
    assert summary["media_note"] == ""
    md, html = (rd / "report.md").read_text(), (rd / "report.html").read_text()
    for text in (md, html):
        assert run.image_sha256 in text and str(tmp_path) not in text
        assert str(PROJECT_DIR) not in text
    # The medium's boot.scr is the bootloader stage's: the same bytes, the same hash.
    scr = next(a for a in summary["boot_artifacts"] if a["file"] == "bootloader/boot.scr")
    assert "| `boot.scr` | waltport | " in md and scr["sha256"] in md.split("**Boot medium**")[1]
    bundle = write_bundle(rd, tmp_path / "b.zip")
    with zipfile.ZipFile(bundle.path) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
        manifest = json.loads(zf.read(f"{rd.name}/{MANIFEST}"))
    assert {"first_boot/sdcard.img.json", "first_boot/sdcard.img.md"} <= names
    assert "first_boot/sdcard.img" not in names
    left = {x.get("file"): x.get("sha256") for x in manifest["left_out"]}
    assert left["first_boot/sdcard.img"] == run.image_sha256
