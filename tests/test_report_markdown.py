"""report.md: what gets pasted on the WalT issue (one comment, checklist first, only truths)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from media_fixtures import MediumRun, needs_media_tools, pc_medium, rpi_media  # noqa: F401
from pipeline_fixtures import BOARDS

from waltport._version import __version__
from waltport.bootloader.render import render_artifacts
from waltport.evidence.facts import (
    ArtifactHash,
    BoardFacts,
    BootloaderFacts,
    ImageFacts,
    NetworkFacts,
)
from waltport.evidence.results import Check, StageResult
from waltport.image.debs import fetch_tree
from waltport.pipeline.bootmedia import read_media
from waltport.pipeline.registry import PIPELINE_STAGES
from waltport.pipeline.report import (
    CUT_NOTE,
    GITHUB_COMMENT_LIMIT,
    RunView,
    import_commands,
    md_cell,
    render_html,
    render_md,
)
from waltport.pipeline.summary import build_summary
from waltport.profile.load import load_profile
from waltport.util.epoch import source_date_epoch

STAGES_NO_REPORT = [s for s in PIPELINE_STAGES if s.name != "report"]
IMAGE_CHECKS = ("labels.models", "labels.minversion", "boot.second-stage", "boot.fetched-files",
                "boot.symlinks", "kernel.config", "kernel.arch", "init", "busybox.applets",
                "busybox.linkage", "commands", "ssh.server", "binaries.arch", "optional.lldpd",
                "optional.ptp-ntp", "optional.avahi", "optional.walt-node")


def _summary(**image: Any) -> dict[str, Any]:
    results = {
        "board": StageResult("board", "pass", (Check("profile is valid", "pass", True, "ok"),),
                             data=BoardFacts.from_json({
                                 "name": "nano", "models": ["nano-a", "nano-b"],
                                 "identifiers": ["walt.node.nano-a", "walt.node.nano-b"],
                                 "dhcp_identifier": "vci", "bootloader": "uboot",
                                 "arch": "arm64"})),
        "network": StageResult("network", "fail",
                               (Check("VCI is walt.node.<model>", "fail", True,
                                      "saw `U-Boot.armv8` | twice"),),
                               data=NetworkFacts.from_json({
                                   "vci_seen": ["U-Boot.armv8"],
                                   "files_served": [{"path": "start.uboot", "bytes": 789}]}),
                               message="wrong VCI"),
        "image": StageResult("image", "pass", data=ImageFacts.from_json(image)),
    }
    return build_summary(results, stages=STAGES_NO_REPORT, epoch=1700000000,
                         run_started_at="2026-12-02T10:00:00Z",
                         generated_at="2026-12-02T10:05:00Z",
                         versions={"u-boot": "U-Boot 2023.01", "packages": {"papermill": "2"}})


def test_checklist_first_evidence_and_failed_stage() -> None:
    md = render_md([RunView(_summary())])
    assert md.startswith("## waltport: `nano` ✘ not ready")
    assert md.index("### Checklist") < md.index("### Reproducibility") < md.index("<details>")
    assert "- [x] ✔ profile is valid — `ok`" in md
    # Evidence cannot break the Markdown: no raw pipes or backticks inside it.
    assert "- [ ] ✘ VCI is walt.node.&lt;model&gt; — `saw 'U-Boot.armv8' \\| twice`" in md
    assert "✘ **Network: DHCP and TFTP on the wire** (fail: wrong VCI)" in md
    assert "✘ **First boot in the lab** (error: the stage wrote no result)" in md
    assert md.count("<details>") == md.count("</details>") >= 3
    assert "`start.uboot` 789 B" in md and "U-Boot 2023.01" in md


def test_dates_real_time_and_source_date_epoch_apart() -> None:
    md = render_md([RunView(_summary())])
    assert "Run 2026-12-02T10:00:00Z (real time)" in md
    assert "SOURCE_DATE_EPOCH=1700000000 (2023-11-14T22:13:20Z)" in md


def test_import_commands_only_as_recorded() -> None:
    assert import_commands(_summary(reference="localhost/nano:1", archive="out/nano.tar")) == []
    md = render_md([RunView(_summary(reference="localhost/nano:1"))])
    assert "podman" not in md and "Import the default image" not in md
    recorded = ["podman load -i /tmp/nano.tar", "walt image show --refresh"]
    s = _summary(import_commands=recorded)
    assert import_commands(s) == recorded
    assert "podman load -i /tmp/nano.tar\nwalt image show --refresh" in render_md([RunView(s)])


def test_md_cell() -> None:
    assert md_cell("a|b\nc`d") == "a\\|b c'd"


def _image_checks(models: tuple[str, ...], *, differ: bool, fail: bool) -> tuple[Check, ...]:
    """Image checks per model, as a family run records them (``[model] name``)."""
    several = len(models) > 1
    out = []
    for m in models:
        for i, name in enumerate(IMAGE_CHECKS):
            # Real evidence names the model (paths, labels); a failing run's differs more.
            ev = (f"/boot/{m}/start.uboot: script image, arch arm64, 717 bytes; "
                  f"walt.node.models={m}; " + "kernel option checked; " * 12)
            if differ:
                ev += f"error {i} on {m}: " + "console line that differs per model " * 40
            status = "fail" if fail and i % 3 == 0 else "pass"
            out.append(Check(f"[{m}] {name}" if several else name, status, i < 13, ev))
    # The import check names its model without brackets, as the image stage writes it.
    out += [Check(f"imported as docker.io/waltplatform/{m}-default:latest", "pass", True,
                  "image 2afd80753bd5") for m in models]
    return tuple(out)


def _run(profile: str, model: str | None, *, differ: bool, fail: bool,
         medium: MediumRun | None = None) -> dict[str, Any]:
    """A run's summary; with ``medium`` its first boot booted that real medium."""
    prof = load_profile(BOARDS / f"{profile}.yaml")
    models = (model,) if model else prof.all_models
    long = "U-Boot 2023.01 console tail: " + "=> dhcp\nBOOTP broadcast 1\n" * 60
    results = {
        "board": StageResult("board", "pass", (Check("profile is valid", "pass", True, "ok"),),
                             data=BoardFacts(name=prof.name, models=prof.all_models,
                                             model=model, arch=str(prof.arch))),
        "bootloader": StageResult("bootloader", "pass",
                                  (Check("first and second stage generated", "pass"),),
                                  data=BootloaderFacts(artifacts=tuple(
                                      ArtifactHash(f"bootloader/f{i}", "ab" * 32, 9)
                                      for i in range(6)))),
        "network": StageResult("network", "fail" if fail else "pass",
                               (Check("DHCP request carries walt.node.<model>",
                                      "fail" if fail else "pass", True,
                                      long + (model or "") if differ else "packet 15"),),
                               message=long if fail else ""),
        "image": StageResult("image", "fail" if fail else "pass",
                             _image_checks(models, differ=differ, fail=fail),
                             data=ImageFacts(digest="cd" * 32, import_commands=tuple(
                                 f"podman tag x {m}" for m in models))),
        "first_boot": StageResult("first_boot", "error",
                                  (Check("every boot reaches userspace", "error", True,
                                         long),), message=long)
        if fail else StageResult("first_boot", "pass", (Check("kernel started", "pass"),)),
    }
    if medium is not None:
        boot = results["first_boot"]
        results["first_boot"] = medium.first_boot(boot.checks, boot.status, boot.message)
    return build_summary(results, stages=STAGES_NO_REPORT, epoch=None,
                         generated_at="2026-12-02T10:05:00Z",
                         media=read_media(medium.run_dir, results) if medium else ())


BUILTIN = sorted(p.stem for p in BOARDS.glob("*.yaml"))


@pytest.mark.parametrize("fail", [False, True], ids=["passing", "failing"])
@pytest.mark.parametrize("profile", BUILTIN)
def test_every_builtin_profile_fits_one_comment(profile: str, fail: bool) -> None:
    models = load_profile(BOARDS / f"{profile}.yaml").all_models
    for differ in (False, True):
        family = [RunView(_run(profile, None, differ=differ, fail=fail))]
        batch = [RunView(_run(profile, m, differ=differ, fail=fail), f"{profile}-{m}/")
                 for m in models]
        for views in (family, batch):
            md = render_md(views)
            assert len(md) <= GITHUB_COMMENT_LIMIT, (profile, differ, len(md))
            assert md.index("### Checklist") < 800
            if not differ:
                assert CUT_NOTE not in md   # the real case: evidence shared by the models
            render_html(views)


def test_identical_checks_once_differences_per_model() -> None:
    views = [RunView(_run("rpi", None, differ=False, fail=False))]
    md = render_md(views)
    # 8 models, one line per requirement; the model's own name became <model>.
    lines = [x for x in md.splitlines() if x.startswith("  - [") and "labels.models" in x]
    assert len(lines) == 1
    line = lines[0]
    assert "all 8 models" in line and "walt.node.models=<model>" in line
    assert "Checked for 8 models: rpi-b, rpi-b-plus, rpi-2-b, rpi-3-b" in md
    imported = [x for x in md.splitlines() if x.startswith("  - [x] ✔ imported as")]
    assert imported == ["  - [x] ✔ imported as docker.io/waltplatform/&lt;model&gt;-default:latest"
                        " — all 8 models — `image 2afd80753bd5`"]
    # The boot artifacts, the same bytes for every model: listed once.
    assert md.count("`bootloader/f0`") == 1


def test_a_differing_model_is_named() -> None:
    s = _run("rpi", None, differ=False, fail=False)
    image = next(st for st in s["stages"] if st["name"] == "image")
    bad = next(c for c in image["checks"] if c["name"] == "[rpi-400] kernel.arch")
    bad.update(status="fail", evidence="/boot/vmlinuz: arm zImage, expected arm64 Image")
    md = render_md([RunView(s)])
    at = md.index("kernel.arch")
    block = md[at:md.index("\n  - ", at + 1)]
    assert "**differs**:" in block and "✘ rpi-400: `/boot/vmlinuz: arm zImage" in block
    assert "✔ rpi-b, rpi-b-plus, rpi-2-b, rpi-3-b, rpi-3-b-plus, rpi-4-b, rpi-5-b" in block


def test_cut_with_a_note_when_nothing_else_fits(tmp_path: Path) -> None:
    md = render_md([RunView(_run("rpi", None, differ=True, fail=True))], limit=4000)
    assert len(md) <= 4000 and md.endswith(CUT_NOTE) and "### Checklist" in md


def _media_runs(cards: dict[str, MediumRun], pc: MediumRun) -> list[RunView]:
    """A batch: a Raspberry Pi 3 card, a model no card can be built for, the PC's USB key."""
    return [RunView(_run("rpi", m, differ=False, fail=False, medium=cards[m]), f"rpi-{m}/")
            for m in ("rpi-3-b", "rpi-5-b")] + \
        [RunView(_run("qemu-x86-64", None, differ=False, fail=False, medium=pc), "qemu-x86-64/")]


@needs_media_tools
def test_bootloader_section_lists_each_medium_with_its_real_hashes(
        rpi_media: dict[str, MediumRun], pc_medium: MediumRun) -> None:  # noqa: F811
    rpi3, rpi5 = rpi_media["rpi-3-b"], rpi_media["rpi-5-b"]
    assert not rpi3.error and "Raspberry Pi 5" in rpi5.error
    md = render_md(_media_runs(rpi_media, pc_medium))
    assert md.index("**Bootloader artifacts**") < md.index("**Boot medium**") < \
        md.index("**Network: DHCP and TFTP on the wire**")
    # The images' own sha256 (hashed from their bytes), whole.
    assert (f"| rpi/rpi-3-b | `sdcard.img` (raspberrypi, rpi-3-b) | 64 MiB | "
            f"`{rpi3.image_sha256}` |") in md
    assert f"| qemu-x86-64 | `usb.img` (pc-usb, pc-x86-64,pc-x86-32) | 32 MiB | " \
           f"`{pc_medium.image_sha256}` |" in md
    # No card for the Pi 5: said plainly, from what its boot recorded.
    assert "| rpi/rpi-5-b | none: rpi-5-b booted in the lab: its first stage was a stored " \
           "U-Boot environment (the SPI-flash analog), not a card | – | – |" in md
    # Content list: Debian's U-Boot as packaged, waltport's boot.scr, the firmware flagged.
    uboot = fetch_tree("u-boot-rpi", "arm64")
    blob = (uboot.root / "usr/lib/u-boot/rpi_3/u-boot.bin").read_bytes()
    assert (f"| `u-boot.bin` | u-boot-rpi | {uboot.version} | "
            f"`{hashlib.sha256(blob).hexdigest()}` |  |") in md
    scr = render_artifacts(load_profile(BOARDS / "rpi.yaml"),
                           timestamp=source_date_epoch())["boot.scr"]
    assert f"| `boot.scr` | waltport | {__version__} | `{hashlib.sha256(scr).hexdigest()}` |" \
        in md
    for firmware in ("bootcode.bin", "start.elf", "fixup.dat"):
        line = next(x for x in md.splitlines() if x.startswith(f"| `{firmware}` |"))
        assert line.startswith(f"| `{firmware}` | raspi-firmware |") and line.endswith("| yes |")
    assert "| `MBR boot code` at sector 0 | syslinux-common |" in md
    assert "- UEFI: this ipxe.efi" in md
    # How to write it: the sidecar's commands, the device left to the user.
    assert "```sh\nbmaptool copy --nobmap sdcard.img /dev/<your-card-or-key>\n# or\n" \
           "dd if=sdcard.img of=/dev/<your-card-or-key> bs=4M conv=fsync status=progress\n```" \
        in md
    assert "dd if=usb.img of=/dev/<your-card-or-key>" in md
    assert "Sidecar: `rpi-rpi-3-b/first_boot/sdcard.img.json` in the bundle." in md
    assert "<summary>rpi/rpi-3-b: sdcard.img: content (7 file(s), 3 non-free)" in md
    assert md.count("<details>") == md.count("</details>")
    assert str(rpi3.run_dir.parent) not in md and str(pc_medium.run_dir) not in md


@needs_media_tools
def test_html_shows_each_medium_escaped_with_its_hashes(
        rpi_media: dict[str, MediumRun], pc_medium: MediumRun) -> None:  # noqa: F811
    html = render_html(_media_runs(rpi_media, pc_medium))
    assert rpi_media["rpi-3-b"].image_sha256 in html and pc_medium.image_sha256 in html
    assert "bmaptool copy --nobmap sdcard.img /dev/&lt;your-card-or-key&gt;" in html
    assert '<a href="rpi-rpi-3-b/first_boot/sdcard.img.json">' in html
    assert "boot medium: none" in html and "<your-card" not in html
    side = json.loads((pc_medium.run_dir / "first_boot" / "usb.img.json").read_text())
    assert all(f["sha256"] in html for f in side["files"] + side["raw"])


@needs_media_tools
@pytest.mark.parametrize("fail", [False, True], ids=["passing", "failing"])
def test_largest_builtin_profile_with_its_media_fits_one_comment(
        rpi_media: dict[str, MediumRun], fail: bool) -> None:  # noqa: F811
    largest = max(BUILTIN, key=lambda p: len(load_profile(BOARDS / f"{p}.yaml").all_models))
    assert largest == "rpi"     # the profile rpi_media builds a card per model for
    built = [r for r in rpi_media.values() if not r.error]
    assert len(built) == 7
    for differ in (False, True):
        views = [RunView(_run("rpi", m, differ=differ, fail=fail, medium=r), f"rpi-{m}/")
                 for m, r in rpi_media.items()]
        md = render_md(views)
        assert len(md) <= GITHUB_COMMENT_LIMIT, (differ, len(md))
        # Whatever else is shortened, every card and its sha256 is in the comment.
        assert all(r.image_sha256 in md for r in built)
        assert md.count("none: rpi-5-b booted in the lab") == 1
        if not differ:
            assert CUT_NOTE not in md and "File hashes shortened" not in md
            for r in built:
                side = json.loads((r.run_dir / "first_boot" / "sdcard.img.json").read_text())
                assert all(f["sha256"] in md for f in side["files"])
