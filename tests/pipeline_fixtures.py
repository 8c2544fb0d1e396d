"""Fixtures for the pipeline tests: project-owned Jupyter dirs, tiny stage notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from waltport.evidence.results import StageResult, read_result

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"
JUPYTER_VARS = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")


@pytest.fixture(scope="session")
def jupyter_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jupyter")


@pytest.fixture(autouse=True)
def _jupyter_dirs(jupyter_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing may be written to $HOME: the runner uses WALTPORT_JUPYTER_DIR,
    # anything Jupyter does in the test process uses these.
    monkeypatch.setenv("WALTPORT_JUPYTER_DIR", str(jupyter_root))
    for var in JUPYTER_VARS:
        monkeypatch.setenv(var, str(jupyter_root / var.lower()))


def write_notebook(path: Path, *cells: str, params: str = 'profile = ""\nout_dir = "."') -> Path:
    """A stage notebook: a tagged parameters cell, then ``cells``."""
    p = new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[p, *(new_code_cell(c) for c in cells)])
    nb.metadata["kernelspec"] = {"name": "waltport", "display_name": "waltport",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def recording_cell(stage: str, ok: bool = True) -> str:
    """A cell that records one check through the real stage glue."""
    return ("from waltport.evidence.facts import NoFacts\n"
            "from waltport.evidence.recorder import record_stage\n"
            f"record_stage(NoFacts, out_dir, lambda rec: rec.check('works', {ok}, 'evidence'), "
            f"stage={stage!r})")


def assert_round_trip(path: Path) -> StageResult:
    """A stage file's data, parsed into its typed facts and written again: the same JSON text."""
    on_disk = json.loads(path.read_text())["data"]
    res = read_result(path)
    assert json.dumps(res.data.to_json()) == json.dumps(on_disk), path.name
    return res
