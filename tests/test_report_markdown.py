"""report.md: what gets pasted on the WalT issue."""

from __future__ import annotations

from typing import Any

from waltport.pipeline.report import RunView, import_commands, md_cell, render_md
from waltport.pipeline.results import Check, StageResult
from waltport.pipeline.stages import STAGES
from waltport.pipeline.summary import build_summary


def _summary(**image: Any) -> dict[str, Any]:
    results = {
        "board": StageResult("board", "pass", (Check("profile is valid", "pass", True, "ok"),),
                             data={"name": "nano", "models": ["nano-a", "nano-b"],
                                   "identifiers": ["walt.node.nano-a", "walt.node.nano-b"],
                                   "dhcp_identifier": "vci", "bootloader": "uboot",
                                   "arch": "arm64"}),
        "network": StageResult("network", "fail",
                               (Check("VCI is walt.node.<model>", "fail", True,
                                      "saw `U-Boot.armv8` | twice"),),
                               data={"vci_seen": ["U-Boot.armv8"],
                                     "files_served": [{"path": "start.uboot", "bytes": 789}]},
                               message="wrong VCI"),
        "image": StageResult("image", "pass", data=image),
    }
    return build_summary(results, stages=[s for s in STAGES if s.name != "report"],
                         versions={"u-boot": "U-Boot 2023.01", "packages": {"papermill": "2"}})


def test_checklist_evidence_details_and_failed_stage() -> None:
    md = render_md([RunView(_summary())])
    assert "### waltport: `nano` ✘ not ready" in md
    assert "- [x] ✔ profile is valid — `ok`" in md
    # Evidence cannot break the Markdown: no raw pipes or backticks inside it.
    assert "- [ ] ✘ VCI is walt.node.<model> — `saw 'U-Boot.armv8' \\| twice`" in md
    assert "✘ **Network: DHCP and TFTP on the wire** (fail: wrong VCI)" in md
    assert "✘ **First boot in the lab** (error: the stage wrote no result)" in md
    assert md.count("<details>") == md.count("</details>") >= 3
    assert "| TFTP served | `start.uboot` (789 B) |" in md
    assert "walt image show --refresh" in md and "U-Boot 2023.01" in md


def test_import_commands_tag_every_model() -> None:
    cmds = import_commands(_summary(reference="localhost/nano:1", archive="out/nano.tar"))
    assert cmds[0] == "podman load -i out/nano.tar"
    assert "podman tag localhost/nano:1 docker.io/waltplatform/nano-a-default:latest" in cmds
    assert "podman tag localhost/nano:1 docker.io/waltplatform/nano-b-default:latest" in cmds
    assert cmds[-2:] == ["walt image show --refresh", "walt advanced update-default-images"]
    given = import_commands(_summary(import_commands=["podman load -i x.tar"]))
    assert given == ["podman load -i x.tar"]


def test_md_cell() -> None:
    assert md_cell("a|b\nc`d") == "a\\|b c'd"
