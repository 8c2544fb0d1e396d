"""Edge: gather a run directory's stage results into summary.json, reports and junit.xml.

Also the report stage itself (:func:`report_stage`), which notebook 05 calls.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from waltport.errors import UsageError
from waltport.evidence.facts import ReportFacts
from waltport.evidence.hostpaths import host_roots, relativize
from waltport.evidence.recorder import Recorder, record_stage
from waltport.evidence.results import StageResult, read_results
from waltport.evidence.runfile import RUN_FILE, read_run_file
from waltport.pipeline.baseline import artifact_hashes, compare, hashes_from
from waltport.pipeline.bootmedia import read_media
from waltport.pipeline.junit import write_junit
from waltport.pipeline.registry import PIPELINE_STAGES, StageSpec, stage_from_json
from waltport.pipeline.report import write_reports
from waltport.pipeline.summary import (
    batch_summary,
    build_summary,
    now,
    write_summary,
)
from waltport.pipeline.versions import collect_versions
from waltport.util.atomic import write_text
from waltport.util.epoch import declared_epoch
from waltport.util.hashing import sha256_file

EVIDENCE_DIRS = ("bootloader", "network", "image", "first_boot")
HASH_LIMIT = 64 << 20   # bigger files are listed by size only
# Working copies the lab serves from (their content is the image's, listed by the
# image stage): not evidence of their own.
NOT_EVIDENCE = frozenset({"image-root", "rootfs", "server-state"})


def write_run_file(run_dir: Path, profile: str, parameters: Mapping[str, Any],
                   stages: Sequence[StageSpec], *, baseline: str | Path | None = None) -> None:
    """What was asked for, and when (real time): the report stage reads it back.

    Published in the bundle, so no host path: the profile and parameters are
    rewritten like every result, ``baseline`` (an earlier run dir to compare
    with) is kept relative to the run dir, where it is read back from.
    """
    rd = Path(run_dir).resolve()
    obj = relativize({"profile": profile, "parameters": dict(parameters),
                      "stages": [asdict(s) for s in stages]}, host_roots(rd))
    obj.update({"started_at": now(), "source_date_epoch": declared_epoch(),
                "baseline": os.path.relpath(Path(baseline).resolve(), rd) if baseline else None})
    write_text(rd / RUN_FILE, json.dumps(obj, indent=2) + "\n")


def evidence_files(run_dir: Path) -> list[dict[str, Any]]:
    """Every file the stages left under their folders, with size and sha256."""
    out = []
    for sub in EVIDENCE_DIRS:
        for p in sorted((run_dir / sub).rglob("*")) if (run_dir / sub).is_dir() else []:
            rel = p.relative_to(run_dir)
            if p.is_file() and not p.name.startswith(".") and \
                    not NOT_EVIDENCE.intersection(rel.parts):
                size = p.stat().st_size
                out.append({"file": str(rel), "bytes": size,
                            "sha256": sha256_file(p) if size <= HASH_LIMIT else None})
    return out


def assemble_run(run_dir: str | Path, *, with_versions: bool = True) -> dict[str, Any]:
    """Write summary.json, report.html, report.md and junit.xml for one run dir."""
    rd = Path(run_dir).resolve()
    run = read_run_file(rd)
    stages = [stage_from_json(s) for s in run.get("stages", [])] or list(PIPELINE_STAGES)
    stages = [s for s in stages if s.name != "report"]
    results = read_results(rd, [s.name for s in stages])
    roots = host_roots(rd)
    base = None
    if run.get("baseline"):
        old = (rd / run["baseline"]).resolve()
        label = str(run["baseline"])    # relative to this run dir: no host path
        try:
            base = compare(hashes_from(results), artifact_hashes(old), label)
        except UsageError as err:   # e.g. a batch entry the earlier batch did not have
            base = {"run": label, "error": str(err).replace(str(old), label)}
    summary = build_summary(results, stages=stages, parameters=run.get("parameters", {}),
                            versions=collect_versions() if with_versions else {},
                            artifacts=evidence_files(rd), profile_path=run.get("profile", ""),
                            run_started_at=run.get("started_at"), generated_at=now(),
                            epoch=run.get("source_date_epoch", declared_epoch()), baseline=base,
                            media=read_media(rd, results))
    # Published files: paths relative to the run dir, no host paths.
    summary = relativize(summary, roots)
    write_summary(rd, summary)
    write_reports(rd, [(rd, summary)])
    write_junit(rd / "junit.xml", [summary])
    return summary


def assemble_batch(out_dir: str | Path, run_dirs: Sequence[Path]) -> dict[str, Any]:
    """Top-level summary.json, reports (all boards in one page) and junit.xml of a batch."""
    od = Path(out_dir).resolve()
    runs = []
    for d in run_dirs:
        p = Path(d) / "summary.json"
        if p.exists():
            runs.append((Path(d).resolve(), json.loads(p.read_text())))
    top = batch_summary([(str(d.relative_to(od)), s) for d, s in runs], generated_at=now())
    write_summary(od, top)
    write_reports(od, runs)
    write_junit(od / "junit.xml", [s for _, s in runs])
    return top


def report_stage(out_dir: str | Path) -> StageResult:
    """The pipeline's last stage: write the reports for the run in ``out_dir``.

    Writes ``<out_dir>/report.json`` like every stage; it lives here, not in
    :mod:`waltport.stages`, because it assembles what the other stages found.
    """

    def body(rec: Recorder[ReportFacts]) -> str:
        with rec.step("assemble"):
            summary = assemble_run(out_dir)
        for name in ("summary.json", "report.html", "report.md", "junit.xml"):
            rec.artifact(name, rec.out_dir / name)
        failed = [s["name"] for s in summary["stages"] if s["status"] != "pass"]
        rec.facts = replace(rec.facts, ok=bool(summary["ok"]))
        rec.check("reports written", True, "summary.json, report.html, report.md, junit.xml")
        return ("all stages pass" if summary["ok"]
                else f"not ready: {', '.join(failed) or 'a mandatory check failed'}")

    return record_stage(ReportFacts, out_dir, body)
