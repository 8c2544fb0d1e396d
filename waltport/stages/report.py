"""Stage 05: assemble summary.json, report.html, report.md and junit.xml from the stage results."""

from __future__ import annotations

from waltport.pipeline.assemble import assemble_run
from waltport.pipeline.results import StageResult
from waltport.stages._common import Recorder, run_stage

STAGE = "report"


def run(out_dir: str) -> StageResult:
    """Write the reports for the run in ``out_dir``; writes ``<out_dir>/report.json``."""

    def body(rec: Recorder) -> str:
        with rec.step("assemble"):
            summary = assemble_run(out_dir)
        for name in ("summary.json", "report.html", "report.md", "junit.xml"):
            rec.artifact(name, rec.out_dir / name)
        failed = [s["name"] for s in summary["stages"] if s["status"] != "pass"]
        rec.data["ok"] = summary["ok"]
        rec.check("reports written", True, "summary.json, report.html, report.md, junit.xml")
        return ("all stages pass" if summary["ok"]
                else f"not ready: {', '.join(failed) or 'a mandatory check failed'}")

    return run_stage(STAGE, out_dir, body)
