"""Run directories holding a real boot medium where the lab leaves one (``first_boot/``).

Each medium is built by ``waltport media``'s engine from Debian's packages
(the shared download cache), exactly as the lab builds the card it boots;
no board is booted here.  The report tests read these media back through
the first-boot artifact, as a real run does.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from waltport.evidence.facts import FirstBootFacts
from waltport.evidence.results import Check, StageResult
from waltport.media.build import build_profile_media
from waltport.media.plan import MediaError
from waltport.pipeline.bootmedia import MEDIUM_ARTIFACT
from waltport.profile.load import load_profile

BOARDS = Path(__file__).resolve().parent.parent / "boards"
MEDIA_TOOLS = ("mkfs.vfat", "mcopy", "syslinux")
needs_media_tools = pytest.mark.skipif(
    any(shutil.which(t) is None for t in MEDIA_TOOLS), reason="needs dosfstools, mtools, syslinux")


@dataclass(frozen=True)
class MediumRun:
    """A run dir whose first boot booted a medium (or could not have one: ``error``)."""

    run_dir: Path
    profile: str
    model: str
    image: str                      # file name in first_boot/: sdcard.img or usb.img
    image_sha256: str = ""          # of the image's bytes, hashed here
    error: str = ""                 # why `waltport media` built none

    def first_boot(self, checks: tuple[Check, ...] = (), status: str = "pass",
                   message: str = "") -> StageResult:
        """The first-boot result a lab boot of this medium records (no boot is run)."""
        mode = "flash" if self.error else self.image.removesuffix(".img")
        data = FirstBootFacts(target="virtual", boot={"model": self.model, "first_stage": mode})
        arts = {} if self.error else {MEDIUM_ARTIFACT: f"first_boot/{self.image}.md"}
        return StageResult("first_boot", status, checks,  # type: ignore[arg-type]
                           artifacts=arts, data=data, message=message)


def build_medium_run(root: Path, profile: str, model: str | None = None,
                     image: str = "sdcard.img") -> MediumRun:
    """Build ``profile``'s medium (for ``model``) at ``<run dir>/first_boot/<image>``."""
    prof = load_profile(BOARDS / f"{profile}.yaml")
    name = model or prof.all_models[0]
    rd = root / (f"{profile}-{model}" if model else profile)
    (rd / "first_boot").mkdir(parents=True)
    try:
        res = build_profile_media(prof, rd / "first_boot" / image, model=model, base=BOARDS)
    except MediaError as err:
        return MediumRun(rd, profile, name, image, error=str(err))
    return MediumRun(rd, profile, name, image, hashlib.sha256(res.image.read_bytes()).hexdigest())


@pytest.fixture(scope="session")
def rpi_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MediumRun]:
    """One run per Raspberry Pi model, each with its real card (rpi-5-b: none, and why)."""
    root = tmp_path_factory.mktemp("rpi-media")
    return {m: build_medium_run(root, "rpi", m)
            for m in load_profile(BOARDS / "rpi.yaml").all_models}


@pytest.fixture(scope="session")
def arm64_medium(tmp_path_factory: pytest.TempPathFactory) -> MediumRun:
    """The card the virtual arm64 board boots in the lab."""
    return build_medium_run(tmp_path_factory.mktemp("arm64-medium"), "qemu-arm64")


@pytest.fixture(scope="session")
def pc_medium(tmp_path_factory: pytest.TempPathFactory) -> MediumRun:
    """The USB key the virtual PC boots with ``--first-stage usb`` (MBR code at sector 0)."""
    return build_medium_run(tmp_path_factory.mktemp("pc-medium"), "qemu-x86-64",
                            image="usb.img")
