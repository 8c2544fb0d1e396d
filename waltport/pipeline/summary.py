"""``summary.json``: one run's board, stage statuses, evidence and tool versions.

The schema (``waltport.summary/1``) is documented in docs/summary-schema.md.
:func:`build_summary` is pure (results in, dict out); versions are passed in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from waltport._version import __version__
from waltport.evidence.facts import (
    BoardFacts,
    BootloaderFacts,
    FirstBootFacts,
    ImageFacts,
    NetworkFacts,
    Served,
)
from waltport.evidence.results import Check, StageResult, Status, facts_of
from waltport.pipeline.bootmedia import no_medium_reason
from waltport.pipeline.registry import PIPELINE_STAGES, StageSpec
from waltport.util.atomic import write_text

SCHEMA = "waltport.summary/1"
BATCH_SCHEMA = "waltport.batch/1"


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> str:
    """The real time (UTC): when a run happened, whatever SOURCE_DATE_EPOCH says."""
    return iso(dt.datetime.now(dt.UTC))


def board_block(facts: BoardFacts, profile_path: str) -> dict[str, Any]:
    """Pure: the summary's board block; every key always there (None/[] when the board
    stage did not record it), the profile's file name when it did not run."""
    return {"name": facts.name or (Path(profile_path).stem if profile_path else "unknown"),
            "description": facts.description or "", "arch": facts.arch,
            "bootloader": facts.bootloader, "dhcp_identifier": facts.dhcp_identifier,
            "models": list(facts.models or ()), "identifiers": list(facts.identifiers or ()),
            "profile_path": facts.profile_path or profile_path,
            "profile_digest": facts.profile_digest, "model": facts.model}


def boot_artifacts(results: Mapping[str, StageResult]) -> list[dict[str, Any]]:
    """The bootloader artifacts with their sha256: what must be the same bytes every run."""
    facts = facts_of(results, BootloaderFacts)
    return [a.to_json() for a in (facts.artifacts or ())] if facts else []


def network_facts(results: Mapping[str, StageResult]) -> dict[str, Any]:
    """VCI/UCI seen and files served, from the network stage and the first boot."""
    vci: dict[str, None] = {}
    uci: dict[str, None] = {}
    files: list[Served] = []
    for facts in (facts_of(results, NetworkFacts), facts_of(results, FirstBootFacts)):
        if facts is None:
            continue
        vci.update(dict.fromkeys(facts.vci_seen or ()))
        uci.update(dict.fromkeys(facts.uci_seen or ()))
        files.extend(f for f in facts.files_served or () if f not in files)
    return {"vci_seen": list(vci), "uci_seen": list(uci),
            "files_served": [f.to_json() for f in _largest_per_path(files)]}


def _largest_per_path(files: list[Served]) -> list[Served]:
    # The capture and the boot report may both list a file: keep the largest transfer seen.
    best: dict[str, Served] = {}
    for f in files:
        key = str(f.path)
        if key not in best or f.bytes > best[key].bytes:
            best[key] = f
    return list(best.values())


def image_facts(results: Mapping[str, StageResult]) -> dict[str, Any]:
    """Labels read back, image id, name, archive and server commands, from the image stage."""
    facts = facts_of(results, ImageFacts) or ImageFacts()
    return {"labels": dict(facts.labels or {}), "digest": facts.digest,
            "reference": facts.reference, "archive": facts.archive,
            "archive_sha256": dict(facts.archive_sha256 or {}),
            "import_commands": import_commands(facts)}


def import_commands(facts: ImageFacts) -> list[str]:
    """The server-side commands the image stage recorded, for every model it imported.

    A family's image is imported once per model (one archive and tag each): the
    commands of all of them, a line the imports share (``walt image show
    --refresh``) once, where it comes last: after every model is tagged.
    """
    return list(reversed(dict.fromkeys(reversed(facts.server_commands))))


@dataclass(frozen=True)
class StageEntry:
    """One ``stages[]`` entry of summary.json: a stage as the run saw it (typed).

    The checklist, junit.xml and ``ok`` read the stages of a summary (this
    run's, or a batch entry's summary.json read back) through it.
    """

    name: str
    status: Status
    title: str = ""
    notebook: str = ""
    mandatory: bool = True
    message: str = ""
    seconds: float = 0.0
    timings: Mapping[str, float] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    artifacts: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "notebook": self.notebook,
                "mandatory": self.mandatory, "status": self.status, "message": self.message,
                "seconds": self.seconds, "timings": dict(self.timings),
                "checks": [asdict(c) for c in self.checks], "artifacts": dict(self.artifacts)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> StageEntry:
        return cls(name=str(obj["name"]), status=obj["status"], title=obj.get("title") or "",
                   notebook=obj.get("notebook") or "", mandatory=bool(obj.get("mandatory", True)),
                   message=obj.get("message") or "", seconds=float(obj.get("seconds") or 0.0),
                   timings=dict(obj.get("timings") or {}),
                   checks=tuple(Check(c["name"], c["status"], bool(c.get("mandatory", True)),
                                      c.get("evidence") or "") for c in obj.get("checks") or ()),
                   artifacts=dict(obj.get("artifacts") or {}))


def stage_entries(summary: Mapping[str, Any]) -> tuple[StageEntry, ...]:
    """Pure: a summary's stages, typed."""
    return tuple(StageEntry.from_json(s) for s in summary.get("stages") or ())


def stage_entry(stage: StageSpec, result: StageResult | None) -> StageEntry:
    if result is None:
        return StageEntry(stage.name, "error", stage.title, stage.notebook, stage.mandatory,
                          "the stage wrote no result")
    timings = result.to_json()["timings"]   # rounded as in <stage>.json
    # Wall time of the stage as run: the notebook (kernel start included) when it ran in one.
    seconds = timings.get("notebook", timings.get("total", 0.0))
    return StageEntry(stage.name, result.status, stage.title, stage.notebook, stage.mandatory,
                      result.message, seconds, timings, result.checks, dict(result.artifacts))


def is_ok(stages: Sequence[StageEntry]) -> bool:
    """No mandatory stage failed, errored or was skipped, nor had a mandatory check fail.

    An optional stage never fails the run, whatever its checks say.
    """
    for s in stages:
        if not s.mandatory:
            continue
        if s.status != "pass":
            return False
        if any(c.mandatory and c.status in ("fail", "error") for c in s.checks):
            return False
    return True


def build_summary(results: Mapping[str, StageResult], *,
                  stages: Sequence[StageSpec] = PIPELINE_STAGES,
                  parameters: Mapping[str, Any] | None = None,
                  versions: Mapping[str, Any] | None = None,
                  artifacts: Sequence[Mapping[str, Any]] = (),
                  profile_path: str = "", run_started_at: str | None = None,
                  generated_at: str = "", epoch: int | None = None,
                  baseline: Mapping[str, Any] | None = None,
                  media: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Pure: the stage results of one run -> the summary dict.

    ``run_started_at`` and ``generated_at`` are real times; ``epoch`` is the
    SOURCE_DATE_EPOCH the artifacts were stamped with; ``baseline`` the
    comparison with an earlier run (:mod:`waltport.pipeline.baseline`); ``media``
    the medium sidecars the stages recorded (:func:`waltport.pipeline.bootmedia.read_media`).
    """
    entries = [stage_entry(s, results.get(s.name)) for s in stages if s.name != "report"]
    stage_json = [e.to_json() for e in entries]
    board = board_block(facts_of(results, BoardFacts) or BoardFacts(), profile_path)
    boot = facts_of(results, FirstBootFacts)
    ok = is_ok(entries)
    return {
        "schema": SCHEMA, "run_started_at": run_started_at, "generated_at": generated_at,
        "source_date_epoch": epoch, "waltport_version": __version__,
        "ok": ok, "exit_code": 0 if ok else 1,
        "board": board, "models": board.get("models", []),
        "parameters": dict(parameters or {}),
        "stages": stage_json,
        "requirements": [{"stage": e["name"], **c} for e in stage_json for c in e["checks"]],
        "network": network_facts(results),
        "image": image_facts(results),
        "boot_artifacts": boot_artifacts(results),
        "media": [dict(m) for m in media],
        "media_note": "" if media else no_medium_reason(results),
        "baseline": dict(baseline) if baseline else None,
        "first_boot": {"boots": boot.boots, "stage_timings": boot.stage_timings,
                       "reached_userspace": boot.reached_userspace,
                       "reliability": boot.reliability}
        if boot is not None and boot.boots is not None else {},
        "artifacts": list(artifacts),
        "versions": dict(versions or {}),
    }


def write_summary(run_dir: str | Path, summary: Mapping[str, Any]) -> Path:
    path = Path(run_dir) / "summary.json"
    write_text(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return path


def batch_summary(runs: Sequence[tuple[str, Mapping[str, Any]]], generated_at: str = "") \
        -> dict[str, Any]:
    """Several runs (``(subdir, summary)``) -> the top-level summary of a batch."""
    ok = all(s.get("ok") for _, s in runs)
    return {"schema": BATCH_SCHEMA, "generated_at": generated_at,
            "waltport_version": __version__, "ok": ok, "exit_code": 0 if ok else 1,
            "runs": [{"dir": d, "board": s.get("board", {}).get("name"),
                      "model": s.get("board", {}).get("model"), "ok": s.get("ok"),
                      "stages": {e.name: e.status for e in stage_entries(s)}}
                     for d, s in runs]}
