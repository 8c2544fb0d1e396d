"""The stage notebooks: stored without outputs, thin, and in step with the stage registry."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from waltport.pipeline.registry import PARAMETERS, PIPELINE_STAGES, notebooks_dir
from waltport.pipeline.runner import notebook_parameters

NOTEBOOKS = sorted(notebooks_dir().glob("*.ipynb"))
# Notebooks of tools used before a profile exists: not stages of `waltport run`.
TOOL_NOTEBOOKS = {"06-probe.ipynb"}
MAX_CELL_LINES = 3   # one call and its display; more means logic that belongs in the package


def test_every_stage_has_its_notebook_and_no_stray_ones() -> None:
    assert {s.notebook for s in PIPELINE_STAGES} | TOOL_NOTEBOOKS == {p.name for p in NOTEBOOKS}


def test_notebooks_are_numbered_in_the_order_the_stages_run() -> None:
    # Opened one after the other in JupyterLab they run as `waltport run` does: the image
    # first, then the network stage boots it once and the first boot judges that boot.
    assert [s.notebook for s in PIPELINE_STAGES] == [p.name for p in NOTEBOOKS
                                                     if p.name not in TOOL_NOTEBOOKS]
    order = [s.name for s in PIPELINE_STAGES]
    assert order.index("image") < order.index("network") < order.index("first_boot")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: outputs stored (clear them before commit)"
            assert cell.execution_count is None, f"{path.name}: execution count stored"
    assert "widgets" not in nb.metadata, f"{path.name}: widget state stored"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_declares_known_parameters(path: Path) -> None:
    declared = notebook_parameters(path)
    assert {"profile", "out_dir"} <= set(declared)
    assert set(declared) <= set(PARAMETERS), "declare new parameters in stages.PARAMETERS"
    for name, value in declared.items():
        if name not in ("profile", "out_dir"):
            assert value == PARAMETERS[name], f"{path.name}: default of {name} differs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_are_thin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "waltport"
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        assert len(tree.body) <= 2, f"{path.name}: cell does more than one call + display"
        assert len(cell.source.splitlines()) <= MAX_CELL_LINES
        assert not any(isinstance(n, ast.For | ast.While | ast.If | ast.FunctionDef
                                  | ast.ClassDef | ast.With | ast.Try) for n in ast.walk(tree))
