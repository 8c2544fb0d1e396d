"""Run the stage notebooks of one board with papermill; several boards in parallel processes.

Each stage notebook is executed into the run directory (kept there), writes
``<stage>.json`` through its stage function, and can never hang the run: every
cell has a timeout and a dead kernel ends the stage.  A stage whose
dependency did not pass is recorded as ``skip`` without running.  Whatever
happened, the reports are written at the end.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import contextlib
import enum
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from waltport.errors import UsageError
from waltport.evidence.results import (
    Check,
    ResultError,
    StageResult,
    read_result,
    result_path,
    write_result,
)
from waltport.pipeline.assemble import assemble_batch, assemble_run, write_run_file
from waltport.pipeline.jupyter import KERNEL_NAME, jupyter_environment
from waltport.pipeline.registry import PARAMETERS, PIPELINE_STAGES, StageSpec, notebooks_dir

Progress = Callable[[str, str, str], None]   # (board, stage, status)


class StopKind(enum.Enum):
    """Why a stage notebook stopped before its end."""

    INTERRUPTED = "interrupted"        # Ctrl-C: the run ends once the reports are written
    CELL_TIMEOUT = "cell timeout"
    DEAD_KERNEL = "dead kernel"
    CELL_ERROR = "cell error"          # a cell raised
    NO_RESULT = "no result"            # the notebook ended without writing <stage>.json
    OTHER = "other"


@dataclass(frozen=True)
class NotebookStop:
    """A notebook that stopped: its kind (decides what the runner does) and why, in words."""

    kind: StopKind
    why: str


@dataclass(frozen=True)
class StageRun:
    """One stage as run: its result and, when its notebook stopped early, why."""

    result: StageResult
    stop: NotebookStop | None = None


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    summary: Mapping[str, Any]
    exit_code: int
    seconds: float


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Pure-ish: the names and literal defaults of a notebook's ``parameters`` cell."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            out: dict[str, Any] = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = ast.literal_eval(node.value)
            return out
    raise UsageError(f"{path}: no cell tagged 'parameters'")


def describe_failure(err: BaseException, timeout: float) -> NotebookStop:
    """Why a notebook stopped (Ctrl-C, timeout, dead kernel, cell error), by the error's type
    and papermill's fields (``ename`` is the exception's name inside the kernel)."""
    from nbclient.exceptions import DeadKernelError  # noqa: PLC0415 (with papermill: heavy)
    from papermill.exceptions import PapermillExecutionError  # noqa: PLC0415

    if isinstance(err, KeyboardInterrupt) or \
            (isinstance(err, PapermillExecutionError) and err.ename == "KeyboardInterrupt"):
        return NotebookStop(StopKind.INTERRUPTED, "interrupted (Ctrl-C)")
    if isinstance(err, TimeoutError):   # nbclient's CellTimeoutError is one
        return NotebookStop(StopKind.CELL_TIMEOUT,
                            f"a cell ran longer than {timeout:.0f} s: the kernel was stopped")
    if isinstance(err, DeadKernelError):
        return NotebookStop(StopKind.DEAD_KERNEL, "the kernel died while running the stage")
    if isinstance(err, PapermillExecutionError):
        return NotebookStop(StopKind.CELL_ERROR,
                            f"cell {err.exec_count} raised {err.ename}: {err.evalue}")
    return NotebookStop(StopKind.OTHER, f"{type(err).__name__}: {err}")


def execute_notebook(src: Path, dest: Path, parameters: Mapping[str, Any], cwd: Path,
                     timeout: float) -> NotebookStop | None:
    """Execute ``src`` into ``dest``; None on success, else why it stopped."""
    import papermill  # noqa: PLC0415 (heavy: only the runner process needs it)

    try:
        papermill.execute_notebook(str(src), str(dest), parameters=dict(parameters),
                                   kernel_name=KERNEL_NAME, progress_bar=False, cwd=str(cwd),
                                   execution_timeout=timeout, start_timeout=60)
    except (Exception, KeyboardInterrupt) as err:
        # Every way a kernel can fail ends the stage, never the run; Ctrl-C ends
        # the run, but only after the reports are written (run_profile).
        return describe_failure(err, timeout)
    return None


def _skip(run_dir: Path, stage: StageSpec, why: str) -> StageResult:
    res = StageResult(stage.name, "skip", (Check(f"{stage.name} ran", "skip", stage.mandatory,
                                                 why),), message=why)
    write_result(run_dir, res)
    return res


def _after_failure(run_dir: Path, stage: StageSpec, stop: NotebookStop) -> StageRun:
    """The notebook stopped: keep what the stage recorded, but mark it as an error."""
    p = result_path(run_dir, stage.name)
    old = StageResult(stage.name, "error")
    if p.exists():
        with contextlib.suppress(ResultError):
            old = read_result(p)
    res = StageResult(stage.name, "error",
                      (*old.checks, Check("notebook ran to the end", "error", True, stop.why)),
                      dict(old.timings), dict(old.artifacts), old.data,
                      f"{stage.notebook}: {stop.why}")
    write_result(run_dir, res)
    return StageRun(res, stop)


def _status(run_dir: Path, name: str) -> str | None:
    p = result_path(run_dir, name)
    try:
        return read_result(p).status if p.exists() else None
    except ResultError:
        return "error"


def run_notebook(stage: StageSpec, run_dir: Path, params: Mapping[str, Any], *,
                 notebooks: Path, selected: set[str], timeout: float | None = None) -> StageRun:
    """Run one stage's notebook (or skip it when a dependency did not pass)."""
    for dep in stage.depends_on:
        status = _status(run_dir, dep)
        if status is not None and status != "pass":
            return StageRun(_skip(run_dir, stage, f"skipped: needs stage {dep}, which is {status}"))
        if status is None and dep in selected:
            return StageRun(_skip(run_dir, stage, f"skipped: stage {dep} wrote no result"))
    src = notebooks / stage.notebook
    declared = notebook_parameters(src)
    t0 = time.monotonic()
    stop = execute_notebook(src, run_dir / stage.notebook,
                            {k: v for k, v in params.items() if k in declared}, run_dir,
                            timeout or stage.cell_timeout)
    if stop is None and not result_path(run_dir, stage.name).exists():
        stop = NotebookStop(StopKind.NO_RESULT,
                            "the notebook finished without writing a stage result")
    if stop is not None:
        return _after_failure(run_dir, stage, stop)
    res = read_result(result_path(run_dir, stage.name))
    if "notebook" not in res.timings:
        res = StageResult(res.stage, res.status, res.checks,
                          {**res.timings, "notebook": time.monotonic() - t0},
                          res.artifacts, res.data, res.message)
        write_result(run_dir, res)
    return StageRun(res)


def run_profile(profile: str | Path, out_dir: str | Path, *,
                stages: Sequence[StageSpec] = PIPELINE_STAGES,
                params: Mapping[str, Any] | None = None,
                notebooks: Path | None = None, cell_timeout: float | None = None,
                progress: Progress | None = None,
                baseline: str | Path | None = None) -> RunOutcome:
    """Run ``stages`` for one profile into ``out_dir``; always writes the reports.

    ``baseline``: an earlier run dir of the same profile; the report then says
    which artifacts are byte-identical to it.
    """
    t0 = time.monotonic()
    run_dir = Path(out_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    profile_path = Path(profile).resolve()
    full = {**PARAMETERS, **(params or {}), "profile": str(profile_path),
            "out_dir": str(run_dir)}
    board = profile_path.stem
    write_run_file(run_dir, str(profile_path), full, stages, baseline=baseline)
    for s in stages:   # stale results from an earlier run must not be mistaken for new ones
        result_path(run_dir, s.name).unlink(missing_ok=True)
    selected = {s.name for s in stages}
    nb_dir = notebooks or notebooks_dir()
    interrupted = False
    with jupyter_environment():
        for s in stages:
            if interrupted:
                _skip(run_dir, s, "skipped: the run was interrupted")
                continue
            if progress:
                progress(board, s.name, "start")
            ran = run_notebook(s, run_dir, full, notebooks=nb_dir, selected=selected,
                               timeout=cell_timeout)
            interrupted = ran.stop is not None and ran.stop.kind is StopKind.INTERRUPTED
            if progress:
                progress(board, s.name, ran.result.status)
    if interrupted or _status(run_dir, "report") != "pass" or \
            not (run_dir / "summary.json").exists():
        # The report notebook was not selected or failed: write the reports here.
        summary = assemble_run(run_dir)
    else:
        summary = json.loads((run_dir / "summary.json").read_text())
    if interrupted:
        raise KeyboardInterrupt
    return RunOutcome(run_dir, summary, int(summary["exit_code"]), time.monotonic() - t0)


@dataclass(frozen=True)
class _Job:
    """One board of a batch, as sent to a worker process (picklable)."""

    profile: str
    out_dir: str
    stages: tuple[str, ...]
    params: Mapping[str, Any]
    notebooks: str | None
    cell_timeout: float | None
    baseline: str | None = None


def _worker(job: _Job, queue: Any) -> tuple[str, int]:
    by = {s.name: s for s in PIPELINE_STAGES}
    outcome = run_profile(job.profile, job.out_dir, stages=[by[n] for n in job.stages],
                          params=job.params,
                          notebooks=Path(job.notebooks) if job.notebooks else None,
                          cell_timeout=job.cell_timeout,
                          progress=lambda b, s, st: queue.put((b, s, st)),
                          baseline=job.baseline)
    return str(outcome.run_dir), outcome.exit_code


def run_dirs_for(profiles: Sequence[str | Path], out_dir: Path,
                 models: Sequence[str | None] | None = None) -> list[Path]:
    """One sub-directory per entry, named after its profile (``<profile>-<model>`` for a
    sub-model), made unique if repeated."""
    dirs: list[Path] = []
    for p, m in zip(profiles, models or [None] * len(profiles), strict=True):
        name, i = Path(p).stem + (f"-{m}" if m else ""), 2
        candidate = out_dir / name
        while candidate in dirs:
            candidate, i = out_dir / f"{name}-{i}", i + 1
        dirs.append(candidate)
    return dirs


def batch_entries(profiles: Sequence[str | Path], models: Sequence[str] | None) \
        -> list[tuple[str | Path, str | None]]:
    """Pure: the batch's entries, every profile once or once per sub-model in ``models``."""
    if not models:
        return [(p, None) for p in profiles]
    return [(p, m) for p in profiles for m in models]


def entry_params(params: Mapping[str, Any], model: str | None, index: int, count: int) \
        -> dict[str, Any]:
    """Pure: the parameters of batch entry ``index`` of ``count``.

    Entries run at once, each booting in a lab of its own: a ``lab_name``
    given for the batch becomes one per entry (``<lab_name>-<index>``), never
    one lab shared by two bench servers.
    """
    out = {**params, **({"model": model} if model else {})}
    if out.get("lab_name") and count > 1:
        out["lab_name"] = f"{str(out['lab_name'])[:18]}-{index}"
    return out


def run_batch(profiles: Sequence[str | Path], out_dir: str | Path, *, jobs: int = 1,
              stages: Sequence[StageSpec] = PIPELINE_STAGES,
              params: Mapping[str, Any] | None = None,
              notebooks: Path | None = None, cell_timeout: float | None = None,
              progress: Progress | None = None,
              models: Sequence[str] | None = None,
              baseline: str | Path | None = None) -> RunOutcome:
    """Several profiles, ``jobs`` at a time in separate processes; one combined report.

    ``models``: each profile runs once per sub-model (parameter ``model``),
    each its own batch entry in ``DIR/<profile>-<model>``.  ``baseline``: an
    earlier batch dir; each entry is compared with the entry of the same name.
    """
    t0 = time.monotonic()
    od = Path(out_dir).resolve()
    od.mkdir(parents=True, exist_ok=True)
    entries = batch_entries(profiles, models)
    dirs = run_dirs_for([p for p, _ in entries], od, [m for _, m in entries])
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        queue = manager.Queue()
        relay = threading.Thread(target=_relay, args=(queue, progress), daemon=True)
        relay.start()
        with cf.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as pool:
            jobs_ = [_Job(str(Path(p).resolve()), str(d), tuple(s.name for s in stages),
                          entry_params(params or {}, m, i, len(entries)),
                          str(notebooks) if notebooks else None, cell_timeout,
                          str(Path(baseline) / d.name) if baseline else None)
                     for i, ((p, m), d) in enumerate(zip(entries, dirs, strict=True))]
            futures = [pool.submit(_worker, j, queue) for j in jobs_]
            for f in cf.as_completed(futures):
                f.result()
        queue.put(None)
        relay.join()
    top = assemble_batch(od, dirs)
    return RunOutcome(od, top, int(top["exit_code"]), time.monotonic() - t0)


def _relay(queue: Any, progress: Progress | None) -> None:
    while (item := queue.get()) is not None:
        if progress:
            progress(*item)
