"""The run's boot: the board boots once, and the network and first-boot stages judge that boot.

In a ``waltport run`` the image stage runs first; the network stage then
boots the board on the image it imported (or, with no image imported in this
run, on the lab's own root) and records the boot; the first-boot stage judges
that recorded boot (every stage to the SSH login, timings, reliability)
instead of booting again.  The network stage boots as many times as the first
boot will judge (``boots``), once when no first boot follows.  A first-boot
stage with no such boot to judge (run on its own) boots by itself.

"This run": in a ``waltport run`` a stage's result counts only if the run
listed that stage in ``run.json`` (the runner removes the results of the
stages it is about to run, so a result of an earlier run is never taken for
this one); a stage function called on its own (a notebook, no ``run.json``)
takes what the directory holds.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waltport.evidence.facts import BootRecord, F, ImageFacts, NetworkFacts
from waltport.evidence.recorder import Recorder
from waltport.evidence.results import StageResult, read_result, result_path
from waltport.evidence.runfile import read_run_file
from waltport.image.tarball import export_rootfs
from waltport.lab.benchboot import boot_bench
from waltport.lab.boot import BootReport, boot_board
from waltport.profile.load import load_profile
from waltport.util.paths import state_dir

LAB_ROOT = "built by the lab from the profile (no imported image in this run)"


@dataclass(frozen=True)
class BootAsk:
    """What a boot of the run is: the same for the network stage and the first boot."""

    profile: str
    image: str | None           # the podman reference the image stage imported, or None
    boots: int = 1
    lab_name: str = ""
    timeout: float = 120
    model: str = ""
    bench: str = ""
    isolated: bool = False
    profile_digest: str = ""    # of the profile as loaded when the stage was asked

    @property
    def image_root(self) -> str:
        """What the board boots, in words (stage data and evidence)."""
        return f"exported from {self.image}" if self.image else LAB_ROOT

    def record(self, report: str) -> BootRecord:
        """Pure: the record a boot of this ask leaves (its report at ``report``, relative
        to the run dir); a recorded boot stands for this one when the records are equal."""
        return BootRecord(report, self.image, self.boots, self.lab_name, self.model,
                          self.bench, self.isolated, self.profile_digest)


def stage_of_this_run(out_dir: Path, stage: str) -> StageResult | None:
    """The result ``stage`` wrote in this run (see the module doc), or None."""
    run = read_run_file(out_dir)
    if run and stage not in {s.get("name") for s in run.get("stages", [])}:
        return None
    path = result_path(out_dir, stage)
    return read_result(path) if path.exists() else None


def run_image(out_dir: Path) -> str | None:
    """The image the image stage of this run imported, if it passed."""
    res = stage_of_this_run(out_dir, "image")
    if res is None or res.status != "pass":
        return None
    return res.facts(ImageFacts).reference or None


def first_boot_follows(out_dir: Path) -> bool:
    """Whether the first-boot stage of this run will judge the network stage's boot.

    It runs after the network stage when it was asked for and its other
    dependency, the image stage, was not asked for or passed.
    """
    names = {s.get("name") for s in read_run_file(out_dir).get("stages", [])}
    if "first_boot" not in names:
        return False
    return "image" not in names or run_image(out_dir) is not None


@contextlib.contextmanager
def _exported(rec: Recorder[F], image: str | None) -> Iterator[Path | None]:
    """The imported image as a root directory to serve, for the boot only."""
    if image is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="boot-image-", dir=state_dir()) as work:
        with rec.step("export"):
            # Owners and set-ID bits kept, as a WalT server exports an image
            # (a Debian image's services run as their users); ``work`` is 0700.
            exported = export_rootfs(image, Path(work) / "rootfs", owners=True)
        if exported.findings:
            rec.check("image export: every member written inside the root", False,
                      "; ".join(exported.findings), mandatory=False)
        yield exported.root


def boot(rec: Recorder[F], ask: BootAsk, dest: Path, lab_name: str) -> BootReport:
    """Boot the board of ``ask`` into ``dest`` (the lab's virtual board, or the bench's).

    The caller records ``ask.image_root`` in its facts first.
    """
    with _exported(rec, ask.image) as root, rec.step("boot"):
        if ask.bench:
            return boot_bench(load_profile(ask.profile), ask.bench, boots=ask.boots,
                              image_root=root, timeout=ask.timeout, out_dir=dest,
                              model=ask.model or None, isolated_ack=ask.isolated)
        return boot_board(load_profile(ask.profile), base=Path(ask.profile).resolve().parent,
                          lab_name=lab_name, boots=ask.boots, image_root=root,
                          timeout=ask.timeout, out_dir=dest, model=ask.model or None)


def boot_record(run_dir: Path, ask: BootAsk, report: BootReport) -> BootRecord:
    """What the network stage records of its boot, for the first boot to find."""
    return ask.record(str((Path(report.out_dir) / "boot-report.json").relative_to(run_dir)))


def recorded_boot(out_dir: Path, ask: BootAsk) -> tuple[dict[str, Any], str] | None:
    """The boot report the network stage recorded in this run for ``ask``, and its file.

    None when there is none, or it was a boot of another image, model,
    bench or count: the first boot then boots by itself.
    """
    net = stage_of_this_run(out_dir, "network")
    record = net.facts(NetworkFacts).boot if net is not None else None
    if record is None or record != ask.record(record.report):
        return None
    path = out_dir / record.report
    if not path.is_file():
        return None
    return json.loads(path.read_text()), record.report
