"""``summary.json``: one run's board, stage statuses, evidence and tool versions.

The schema (``waltport.summary/1``) is documented in docs/summary-schema.md.
:func:`build_summary` is pure (results in, dict out); versions are passed in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from waltport._version import __version__
from waltport.pipeline.bootmedia import no_medium_reason
from waltport.pipeline.registry import PIPELINE_STAGES, StageSpec
from waltport.pipeline.results import StageResult
from waltport.util.atomic import write_text

SCHEMA = "waltport.summary/1"
# The board block always has these keys (None/[] when the board stage did not run).
BOARD_KEYS: dict[str, Any] = {"name": None, "description": "", "arch": None, "bootloader": None,
                              "dhcp_identifier": None, "models": [], "identifiers": [],
                              "profile_path": None, "profile_digest": None, "model": None}
BATCH_SCHEMA = "waltport.batch/1"


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> str:
    """The real time (UTC): when a run happened, whatever SOURCE_DATE_EPOCH says."""
    return iso(dt.datetime.now(dt.UTC))


def boot_artifacts(results: Mapping[str, StageResult]) -> list[dict[str, Any]]:
    """The bootloader artifacts with their sha256: what must be the same bytes every run."""
    r = results.get("bootloader")
    return [dict(a) for a in (r.data.get("artifacts") or [])] if r else []


def network_facts(results: Mapping[str, StageResult]) -> dict[str, Any]:
    """VCI/UCI seen and files served, from the network stage and the first boot."""
    out: dict[str, Any] = {"vci_seen": [], "uci_seen": [], "files_served": []}
    for stage in ("network", "first_boot"):
        r = results.get(stage)
        for key, seen in out.items():
            for item in (r.data.get(key) or []) if r else []:
                if item not in seen:
                    seen.append(item)
    out["files_served"] = _largest_per_path(out["files_served"])
    return out


def _largest_per_path(files: list[Any]) -> list[Any]:
    # The capture and the boot report may both list a file: keep the largest transfer seen.
    best: dict[str, Any] = {}
    for f in files:
        key = str(f.get("path")) if isinstance(f, Mapping) else str(f)
        if key not in best or (isinstance(f, Mapping) and
                               (f.get("bytes") or 0) > (best[key].get("bytes") or 0)):
            best[key] = f
    return list(best.values())


def image_facts(results: Mapping[str, StageResult]) -> dict[str, Any]:
    """Labels read back, image id, name, archive and server commands, from the image stage."""
    data = results["image"].data if "image" in results else {}
    return {"labels": data.get("labels") or {}, "digest": data.get("digest"),
            "reference": data.get("reference"), "archive": data.get("archive"),
            "archive_sha256": data.get("archive_sha256") or {},
            "import_commands": import_commands(data)}


def import_commands(data: Mapping[str, Any]) -> list[str]:
    """The server-side commands the image stage recorded, for every model it imported.

    A family's image is imported once per model (one archive and tag each): the
    commands of all of them, a line the imports share (``walt image show
    --refresh``) once, where it comes last: after every model is tagged.
    """
    lines = [c for imp in data.get("imports") or [] for c in imp.get("server_commands") or []]
    lines = lines or list(data.get("import_commands") or [])
    return list(reversed(dict.fromkeys(reversed(lines))))


def stage_entry(stage: StageSpec, result: StageResult | None) -> dict[str, Any]:
    if result is None:
        return {"name": stage.name, "title": stage.title, "notebook": stage.notebook,
                "mandatory": stage.mandatory, "status": "error",
                "message": "the stage wrote no result", "seconds": 0.0, "timings": {},
                "checks": [],
                "artifacts": {}}
    j = result.to_json()
    # Wall time of the stage as run: the notebook (kernel start included) when it ran in one.
    seconds = j["timings"].get("notebook", j["timings"].get("total", 0.0))
    return {"name": stage.name, "title": stage.title, "notebook": stage.notebook,
            "mandatory": stage.mandatory, "status": result.status, "message": result.message,
            "seconds": seconds, "timings": j["timings"], "checks": j["checks"],
            "artifacts": j["artifacts"]}


def is_ok(stages: Sequence[Mapping[str, Any]]) -> bool:
    """No mandatory stage failed, errored or was skipped, nor had a mandatory check fail.

    An optional stage never fails the run, whatever its checks say.
    """
    for s in stages:
        if not s["mandatory"]:
            continue
        if s["status"] != "pass":
            return False
        if any(c["mandatory"] and c["status"] in ("fail", "error") for c in s["checks"]):
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
    data = results["board"].data if "board" in results else {}
    board: dict[str, Any] = {k: data.get(k, default) for k, default in BOARD_KEYS.items()}
    if not board["name"]:
        board["name"] = Path(profile_path).stem if profile_path else "unknown"
    board["profile_path"] = board["profile_path"] or profile_path
    boot = results["first_boot"].data if "first_boot" in results else {}
    ok = is_ok(entries)
    return {
        "schema": SCHEMA, "run_started_at": run_started_at, "generated_at": generated_at,
        "source_date_epoch": epoch, "waltport_version": __version__,
        "ok": ok, "exit_code": 0 if ok else 1,
        "board": board, "models": board.get("models", []),
        "parameters": dict(parameters or {}),
        "stages": entries,
        "requirements": [{"stage": e["name"], **c} for e in entries for c in e["checks"]],
        "network": network_facts(results),
        "image": image_facts(results),
        "boot_artifacts": boot_artifacts(results),
        "media": [dict(m) for m in media],
        "media_note": "" if media else no_medium_reason(results),
        "baseline": dict(baseline) if baseline else None,
        "first_boot": {k: boot.get(k) for k in ("boots", "stage_timings", "reached_userspace",
                                               "reliability") if k in boot},
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
                      "stages": {e["name"]: e["status"] for e in s.get("stages", [])}}
                     for d, s in runs]}
