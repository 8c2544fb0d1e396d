"""Stage results: what one stage found, as JSON next to its executed notebook.

A stage writes ``<stage>.json`` (schema ``waltport.stage/1``) atomically; the
summary, the reports and junit.xml are built only from these records, never
by scraping notebooks or logs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from waltport.errors import WaltportError
from waltport.pipeline.hostpaths import host_roots, relativize
from waltport.util.atomic import write_text

SCHEMA = "waltport.stage/1"
Status = Literal["pass", "fail", "skip", "error"]
STATUSES: tuple[str, ...] = ("pass", "fail", "skip", "error")
SYMBOL = {"pass": "✔", "fail": "✘", "skip": "–", "error": "✘"}


class ResultError(WaltportError):
    """A stage result file is missing, unreadable or not of our schema."""


@dataclass(frozen=True)
class Check:
    """One requirement checked by a stage, with the evidence that decided it."""

    name: str
    status: Status
    mandatory: bool = True
    evidence: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check {self.name!r}: status {self.status!r} not in {STATUSES}")


@dataclass(frozen=True)
class StageResult:
    """Everything one stage reports.

    ``artifacts`` maps a label to a path relative to the run directory
    (``"ladder": "network/ladder.png"``); ``data`` is stage-specific JSON
    (``vci_seen``, ``files_served``, ``labels`` ...) that the summary picks up.
    """

    stage: str
    status: Status
    checks: tuple[Check, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"stage {self.stage!r}: status {self.status!r} not in {STATUSES}")

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "stage": self.stage, "status": self.status,
                "message": self.message,
                "checks": [asdict(c) for c in self.checks],
                "timings": {k: round(float(v), 3) for k, v in self.timings.items()},
                "artifacts": dict(self.artifacts), "data": dict(self.data)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = "<json>") -> StageResult:
        if obj.get("schema") != SCHEMA:
            raise ResultError(f"{source}: not a stage result (schema {obj.get('schema')!r}, "
                              f"expected {SCHEMA!r})")
        try:
            checks = tuple(Check(**c) for c in obj.get("checks", []))
            return cls(stage=obj["stage"], status=obj["status"], checks=checks,
                       timings=dict(obj.get("timings", {})),
                       artifacts=dict(obj.get("artifacts", {})),
                       data=dict(obj.get("data", {})), message=obj.get("message", ""))
        except (KeyError, TypeError, ValueError) as err:
            raise ResultError(f"{source}: malformed stage result: {err}") from err

    def _repr_html_(self) -> str:
        # Notebooks display a result directly; one small table, no JS.
        from waltport.pipeline.report import stage_html  # noqa: PLC0415 (report imports us)
        return stage_html(self)


def status_from_checks(checks: Iterable[Check]) -> Status:
    """A stage errors if a check errored, fails if a mandatory check failed, else passes."""
    checks = list(checks)
    if any(c.status == "error" for c in checks):
        return "error"
    if any(c.status == "fail" and c.mandatory for c in checks):
        return "fail"
    return "pass"


def result_path(run_dir: str | Path, stage: str) -> Path:
    return Path(run_dir) / f"{stage}.json"


def write_result(run_dir: str | Path, result: StageResult) -> Path:
    """Write ``<run_dir>/<stage>.json`` atomically; returns its path.

    Host paths in it become relative to the run dir (the results are published
    in the bundle; readers of a result use the paths relative to the run dir).
    """
    path = result_path(run_dir, result.stage)
    obj = relativize(result.to_json(), host_roots(Path(run_dir).resolve()))
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
    return path


def read_result(path: str | Path) -> StageResult:
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultError(f"cannot read stage result {p}: {err}") from err
    if not isinstance(obj, dict):
        raise ResultError(f"{p}: a stage result is a JSON object")
    return StageResult.from_json(obj, str(p))


def read_results(run_dir: str | Path, stages: Iterable[str]) -> dict[str, StageResult]:
    """The results present in ``run_dir`` for ``stages`` (missing ones are left out)."""
    out: dict[str, StageResult] = {}
    for name in stages:
        p = result_path(run_dir, name)
        if p.exists():
            out[name] = read_result(p)
    return out
