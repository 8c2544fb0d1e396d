"""Stage 03: build (or take) the default image, check it against WalT's requirements, import it."""

from __future__ import annotations

from pathlib import Path

from waltport.pipeline.results import StageResult
from waltport.profile.load import load_profile
from waltport.stages._common import Recorder, engine, run_stage

STAGE = "image"


def run(profile: str, out_dir: str, *, image_source: str = "") -> StageResult:
    """Check the image (built from the profile when ``image_source`` is empty) and import it."""

    def body(rec: Recorder) -> str:
        prof = load_profile(profile)
        check_image = engine("waltport.image", "check_image", "default image checks")
        dest = rec.subdir("image")
        source: object = image_source
        if not image_source:
            build_image = engine("waltport.image", "build_image", "default image build")
            with rec.step("build"):
                built = build_image(Path(profile), out_dir=dest)
            rec.data["built"] = built.to_json() if hasattr(built, "to_json") else str(built)
            source = built
        model = prof.all_models[0]
        with rec.step("check"):
            report = check_image(source, model, profile=prof)
        rj = report.to_json()
        rec.data["check"] = rj
        for item in rj.get("checks", []):
            status = item.get("status")
            ok = None if status == "skip" else (status == "pass" if status else item.get("ok"))
            rec.check(str(item.get("name")), ok, str(item.get("evidence", "")),
                      mandatory=bool(item.get("mandatory", True)))
        rec.check("image satisfies WalT's default-image requirements", bool(report.ok),
                  f"{len(rj.get('checks', []))} requirement(s) checked")
        import_image = engine("waltport.image", "import_image", "image import")
        with rec.step("import"):
            imported = import_image(source, model, out_dir=dest)
        rec.data["import"] = imported.to_json() if hasattr(imported, "to_json") else {}
        return ""

    return run_stage(STAGE, out_dir, body)
