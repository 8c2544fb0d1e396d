"""report.html as a maintainer sees it: one offline file, rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from media_fixtures import build_medium_run
from pipeline_fixtures import BOARDS

from waltport.evidence.results import Check, StageResult, write_result
from waltport.pipeline.assemble import assemble_run, write_run_file
from waltport.pipeline.registry import PIPELINE_STAGES
from waltport.stages import board, bootloader

CHROMIUM = shutil.which("chromium")
PASS_GREEN = np.array([0x1A, 0x7F, 0x37]) / 255.0
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with real board/bootloader results, a failed network stage, a plot, and the
    real card a first boot records (no board is booted)."""
    medium = build_medium_run(tmp_path_factory.mktemp("report"), "qemu-arm64")
    rd = medium.run_dir
    prof = str(BOARDS / "qemu-arm64.yaml")
    write_run_file(rd, prof, {"mode": "lab"}, [s for s in PIPELINE_STAGES if s.name != "report"])
    board.run(prof, str(rd))
    bootloader.run(prof, str(rd))
    (rd / "network").mkdir()
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1, 2], [0, 1, 0])
    fig.savefig(rd / "network" / "ladder.png")
    plt.close(fig)
    write_result(rd, StageResult(
        "network", "fail",
        (Check("DHCP carries walt.node.qemu-arm64 <in option 60>", "fail", True,
               "saw VCI U-Boot.armv8 | PXEClient:Arch:00011"),),
        artifacts={"plot:ladder": "network/ladder.png"}, message="wrong VCI"))
    write_result(rd, medium.first_boot((Check("kernel started", "pass"),)))
    assemble_run(rd)
    return rd


def test_report_is_one_offline_file(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external resource"
    assert "<script" not in html
    assert "data:image/png;base64," in html
    # Evidence from the wire is escaped, never markup.
    assert "&lt;in option 60&gt;" in html and "<in option 60>" not in html


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM or "chromium", *FLAGS, f"--user-data-dir={profile}",
                               *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/bootstrap.sh)")
def test_chromium_renders_the_checklist(run_dir: Path) -> None:
    url = (run_dir / "report.html").as_uri()
    dom = chromium("--dump-dom", url).stdout
    rows = re.findall(r'<td class="sym s-(pass|fail|skip|error)">', dom)
    assert rows.count("pass") >= 5 and "fail" in rows
    assert "Porting requirements" in dom and "qemu-arm64" in dom
    # The card, in the bootloader section, before the network stage.
    sha = json.loads((run_dir / "summary.json").read_text())["media"][0]["medium"]["sha256"]
    assert dom.index("Bootloader artifacts") < dom.index(f"sha256 {sha}") < \
        dom.index("Network: DHCP")

    png = run_dir / "report.png"
    chromium(f"--screenshot={png}", "--window-size=1200,1500", url)
    img = mpimg.imread(png)[:, :, :3]
    assert img.shape[:2] == (1500, 1200)
    green = np.all(np.abs(img - PASS_GREEN) < 0.02, axis=2)
    # ✔ marks and pass pills are drawn in the pass colour: the checklist is on screen.
    assert green.sum() > 500
    assert img.std() > 0.05, "blank page"
