"""`waltport run` end to end on the virtual arm64 board: real U-Boot, bench server, podman."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pipeline_fixtures import BOARDS, _jupyter_dirs, jupyter_root  # noqa: F401

from waltport.cli import main

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.podman, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]


def test_every_stage_passes_with_real_evidence(tmp_path: Path) -> None:
    out = tmp_path / "run"
    rc = main(["run", str(BOARDS / "qemu-arm64.yaml"), "--out", str(out), "--no-progress"])
    s = json.loads((out / "summary.json").read_text())
    assert rc == 0, [(e["name"], e["status"], e["message"]) for e in s["stages"]]
    assert {e["name"]: e["status"] for e in s["stages"]} == dict.fromkeys(
        ("board", "bootloader", "network", "image", "first_boot"), "pass")
    # VCI from the capture, bytes served, labels read back from podman, userspace reached.
    assert s["network"]["vci_seen"] == ["walt.node.qemu-arm64"]
    served = {f["path"]: f["bytes"] for f in s["network"]["files_served"]}
    assert served["start.uboot"] == (out / "bootloader" / "start.uboot").stat().st_size
    assert served["kernel"] > 1_000_000
    assert s["image"]["labels"]["walt.node.models"] == "qemu-arm64"
    assert s["image"]["reference"] == "docker.io/waltplatform/qemu-arm64-default:latest"
    assert s["first_boot"]["reached_userspace"] == 1
    assert str(s["versions"]["u-boot"]).startswith("U-Boot 2023.01")
    md = (out / "report.md").read_text()
    assert "`qemu-arm64` ✔ boots as a WalT node" in md and "podman load -i" in md
    assert (out / "network" / "ladder.png").exists()
    assert (out / "first_boot" / "timeline.png").exists()
    # The lab is gone: nothing left behind.
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=True).stdout
    assert "wp-qemu-arm64" not in netns
