"""Host paths out of published files: relative to the run dir, or named roots."""

from __future__ import annotations

from pathlib import Path

from waltport.evidence.hostpaths import host_roots, relativize, relativize_text
from waltport.pipeline.checklist import normalise
from waltport.util.paths import PROJECT_DIR, state_dir


def test_paths_become_relative_or_named(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    roots = host_roots(rd, home="/home/porter")
    assert relativize_text(f"console {rd}/first_boot/boot-0/console.log", roots) == \
        "console first_boot/boot-0/console.log"
    assert relativize_text(f"cwd={rd}", roots) == "cwd=."
    # Only whole path components: a sibling directory is left alone (and then flagged).
    assert relativize_text(f"{rd}-2/x", roots) == f"{rd}-2/x"
    assert relativize_text(f"scp {state_dir()}/images/a.tar host:", roots) == \
        "scp $WALTPORT_STATE/images/a.tar host:"
    assert relativize_text(f"{PROJECT_DIR}/boards/rpi.yaml", roots) == \
        "$WALTPORT_DIR/boards/rpi.yaml"
    assert relativize_text("/home/porter/.ssh/config", roots) == "~/.ssh/config"
    obj = relativize({"a": [f"{rd}/x", 3, None], f"{rd}/k": {"b": str(rd)}}, roots)
    assert obj == {"a": ["x", 3, None], "k": {"b": "."}}


def test_normalise_model_names() -> None:
    assert normalise("/boot/rpi-3-b/start.uboot for walt.node.rpi-3-b", "rpi-3-b") == \
        "/boot/<model>/start.uboot for walt.node.<model>"
    # rpi-3-b is not rpi-3-b-plus; the image name rpi-3-b-default is rpi-3-b's.
    assert normalise("rpi-3-b-plus", "rpi-3-b") == "rpi-3-b-plus"
    assert normalise("waltplatform/rpi-3-b-default:latest", "rpi-3-b") == \
        "waltplatform/<model>-default:latest"
