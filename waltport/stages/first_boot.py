"""Stage 04: boot the virtual board in the lab until userspace; timings and reliability."""

from __future__ import annotations

from waltport.pipeline.results import StageResult
from waltport.profile.load import load_profile
from waltport.stages._common import Recorder, engine, run_stage

STAGE = "first_boot"


def run(profile: str, out_dir: str, *, mode: str = "lab", boots: int = 1, lab_name: str = "",
        timeout: float = 120) -> StageResult:
    """Boot ``boots`` times in the lab; writes ``<out_dir>/first_boot.json``."""

    def body(rec: Recorder) -> str:
        prof = load_profile(profile)
        if mode != "lab":
            rec.check("first boot in the virtual lab", None,
                      f"mode={mode}: a real board's boot is judged from the network stage",
                      mandatory=False)
            return f"not run in mode {mode}"
        boot_board = engine("waltport.lab.boot", "boot_board", "virtual lab boot")
        dest = rec.subdir("first_boot")
        with rec.step("boots"):
            report = boot_board(profile, lab_name=lab_name or f"wp-{prof.name}"[:15],
                                boots=boots, timeout=timeout, out_dir=dest)
        rj = report.to_json()
        rec.data["boot"] = rj
        for item in rj.get("checks", []):
            rec.check(str(item.get("name")), item.get("status") == "pass",
                      str(item.get("evidence", "")), mandatory=bool(item.get("mandatory", True)))
        return ""

    return run_stage(STAGE, out_dir, body)
