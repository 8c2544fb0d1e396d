"""Stage results: what one stage found, as JSON next to its executed notebook.

A stage writes ``<stage>.json`` (schema ``waltport.stage/1``) atomically; the
summary, the reports and junit.xml are built only from these records, never
by scraping notebooks or logs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from waltport.errors import WaltportError
from waltport.evidence.facts import F, Facts, FactsError, NoFacts, facts_type
from waltport.evidence.hostpaths import host_roots, relativize
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
    (``"ladder": "network/ladder.png"``); ``data`` is the stage's typed facts
    (:mod:`waltport.evidence.facts`: ``NetworkFacts`` for ``network`` ...),
    which the summary, the report and later stages read through their type.
    Left out, ``data`` is the stage's facts with nothing recorded.
    """

    stage: str
    status: Status
    checks: tuple[Check, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    data: Facts = field(default_factory=NoFacts)
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"stage {self.stage!r}: status {self.status!r} not in {STATUSES}")
        kind = facts_type(self.stage)
        if type(self.data) is NoFacts and kind is not NoFacts:
            object.__setattr__(self, "data", kind(traceback=self.data.traceback))
        elif not isinstance(self.data, kind):
            raise ValueError(f"stage {self.stage!r}: data is {type(self.data).__name__}, "
                             f"expected {kind.__name__}")

    def facts(self, kind: type[F]) -> F:
        """The stage's facts as ``kind`` (a stage reading another's through its type)."""
        if not isinstance(self.data, kind):
            raise ResultError(f"stage {self.stage}: its facts are {type(self.data).__name__}, "
                              f"not {kind.__name__}")
        return self.data

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "stage": self.stage, "status": self.status,
                "message": self.message,
                "checks": [asdict(c) for c in self.checks],
                "timings": {k: round(float(v), 3) for k, v in self.timings.items()},
                "artifacts": dict(self.artifacts), "data": self.data.to_json()}

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
                       data=facts_type(obj["stage"]).from_json(obj.get("data", {}),
                                                               f"{source}: data"),
                       message=obj.get("message", ""))
        except FactsError as err:
            raise ResultError(str(err)) from err
        except (KeyError, TypeError, ValueError) as err:
            raise ResultError(f"{source}: malformed stage result: {err}") from err

    def _repr_html_(self) -> str:
        # Notebooks display a result directly; one small table, no JS.
        return stage_html(self)


def status_from_checks(checks: Iterable[Check]) -> Status:
    """A stage errors if a check errored, fails if a mandatory check failed, else passes."""
    checks = list(checks)
    if any(c.status == "error" for c in checks):
        return "error"
    if any(c.status == "fail" and c.mandatory for c in checks):
        return "fail"
    return "pass"


def facts_of(results: Mapping[str, StageResult], kind: type[F]) -> F | None:
    """The facts of ``kind``'s stage among ``results``, or None when it did not run."""
    res = results.get(kind.STAGE)
    return res.facts(kind) if res is not None else None


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


def stage_html(result: StageResult) -> str:
    """Pure: a stage result as a small HTML table (what a notebook cell shows)."""
    rows = "".join(
        f"<tr><td>{SYMBOL[c.status]}</td><td>{html.escape(c.name)}</td>"
        f"<td>{'mandatory' if c.mandatory else 'optional'}</td>"
        f"<td><code>{html.escape(c.evidence)}</code></td></tr>" for c in result.checks)
    msg = f"<p>{html.escape(result.message)}</p>" if result.message else ""
    return (f"<h4>{SYMBOL[result.status]} stage {html.escape(result.stage)}: "
            f"{result.status}</h4>{msg}<table><tr><th></th><th>check</th><th></th>"
            f"<th>evidence</th></tr>{rows}</table>")
