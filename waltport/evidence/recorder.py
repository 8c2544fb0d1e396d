"""What every stage function shares: record checks, time steps, write ``<stage>.json``.

A stage function never raises for a stage-level problem: what went wrong is
recorded (``error`` with the reason) so the report can name it.  An engine
is imported plainly: a missing one is an import error at once, not a
stage that silently skips.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Generic

from waltport.errors import WaltportError
from waltport.evidence.facts import F
from waltport.evidence.results import (
    Check,
    StageResult,
    Status,
    status_from_checks,
    write_result,
)


class Recorder(Generic[F]):
    """Collects one stage's checks, timings, artifacts and facts.

    ``facts`` starts empty; the stage replaces it as it learns
    (``rec.facts = replace(rec.facts, mode="lab")``), typed by its class.
    """

    def __init__(self, stage: str, out_dir: str | Path, facts: F) -> None:
        self.stage = stage
        self.facts: F = facts
        self.out_dir = Path(out_dir).resolve()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.checks: list[Check] = []
        self.timings: dict[str, float] = {}
        self.artifacts: dict[str, str] = {}
        self._t0 = time.monotonic()

    def subdir(self, name: str) -> Path:
        d = self.out_dir / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        t = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = time.monotonic() - t

    def check(self, name: str, ok: bool | None, evidence: str = "", *,
              mandatory: bool = True) -> bool:
        """Record a check: True pass, False fail, None skip (not applicable)."""
        status: Status = "skip" if ok is None else ("pass" if ok else "fail")
        self.checks.append(Check(name, status, mandatory, evidence))
        return bool(ok)

    def artifact(self, label: str, path: str | Path) -> None:
        p = Path(path).resolve()
        try:
            self.artifacts[label] = str(p.relative_to(self.out_dir))
        except ValueError:
            self.artifacts[label] = str(p)

    def finish(self, message: str = "", status: Status | None = None) -> StageResult:
        self.timings["total"] = time.monotonic() - self._t0
        result = StageResult(self.stage, status or status_from_checks(self.checks),
                             tuple(self.checks), dict(self.timings), dict(self.artifacts),
                             self.facts, message)
        write_result(self.out_dir, result)
        return result


def record_stage(kind: type[F], out_dir: str | Path, body: Callable[[Recorder[F]], str | None],
                 *, stage: str = "") -> StageResult:
    """Run ``body(recorder)``; whatever happens, write and return the stage result.

    ``kind``: the stage's facts type (its name is ``kind.STAGE`` unless
    ``stage`` says otherwise).  ``body`` returns an optional message.  A
    WaltportError becomes an ``error`` stage with its message; an unexpected
    exception too, with its traceback kept in the facts.
    """
    stage = stage or kind.STAGE
    rec = Recorder(stage, out_dir, kind())
    try:
        returned = body(rec)
        message = returned if isinstance(returned, str) else ""
    except WaltportError as err:
        rec.checks.append(Check(f"{stage} ran", "error", True, str(err)))
        return rec.finish(str(err), "error")
    except Exception as err:  # a bug in an engine: keep it in the report, not a hang
        rec.facts = replace(rec.facts, traceback=traceback.format_exc(limit=8))
        msg = f"internal error: {type(err).__name__}: {err}"
        rec.checks.append(Check(f"{stage} ran", "error", True, msg))
        return rec.finish(msg, "error")
    return rec.finish(message)
