"""Image stage: a family whose boot files the porter has not supplied fails, it is no error."""

from __future__ import annotations

from pathlib import Path

from waltport.stages import image
from waltport.util.paths import boards_dir


def test_missing_porter_files_fail_the_stage_naming_them(tmp_path: Path) -> None:
    # nanopi-r5c: Debian ships no rk3568-nanopi-r5c.dtb; refused before podman is reached.
    result = image.run(str(boards_dir() / "nanopi-r5c.yaml"), str(tmp_path))
    assert str(result.status) == "fail", result.message
    built = next(c for c in result.checks if c.name == "default image built with podman")
    assert str(built.status) == "fail" and "rk3568-nanopi-r5c.dtb" in built.evidence
    assert "porter" in result.message
