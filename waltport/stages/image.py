"""Stage 03: build (or take) the default image, check it against WalT's requirements, import it."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from waltport.evidence.facts import ImageFacts, JsonObject
from waltport.evidence.recorder import Recorder, record_stage
from waltport.evidence.results import StageResult
from waltport.image.bootfiles import BootFilesError
from waltport.image.build import build_image
from waltport.image.checks import check_image
from waltport.image.importer import ImportResult, import_image
from waltport.profile.load import load_profile
from waltport.util.paths import state_dir


def check_rows(report_json: dict[str, Any], model: str, several: bool) -> list[dict[str, Any]]:
    """Pure: the image checks as stage checks (a warning is an optional failure)."""
    rows = []
    for r in report_json.get("results", []):
        status = r["status"]
        rows.append({"name": f"[{model}] {r['name']}" if several else r["name"],
                     "ok": status == "pass", "mandatory": bool(r["mandatory"]) and status != "warn",
                     "evidence": "; ".join(r.get("evidence") or [])})
    return rows


def run(profile: str, out_dir: str, *, image_source: str = "", model: str = "",
        image_base: str = "") -> StageResult:
    """Check the image (built from the profile when ``image_source`` is empty), import it.

    ``model``: the image of that sub-model (its arch's image), checked and
    imported for that model only.  ``image_base``: ``minimal`` or ``debian``
    for the build ("": the profile's ``image.base``).

    Writes ``<out_dir>/image.json`` and the archives under ``<out_dir>/image/``.
    """

    def body(rec: Recorder[ImageFacts]) -> str:
        prof = load_profile(profile)
        # The archives are big: they live in the state dir, the run records where
        # and their sha256 (the report's "image archive reference").
        dest = state_dir() / "images" / prof.name
        source = image_source
        models: tuple[str, ...] = (model,) if model else prof.all_models
        notes: tuple[str, ...] = ()
        if not source:
            try:
                with rec.step("build"):
                    built = build_image(prof, model=model or None, base=image_base or None)
            except BootFilesError as err:
                # Not an error of the run: the profile says the porter supplies these
                # files (boot_files), and they were not given.
                rec.check("default image built with podman", False, str(err))
                return "no image: the porter's boot files are missing"
            rec.facts = replace(rec.facts, built=asdict(built))
            rec.check("default image built with podman", True,
                      f"{built.tag} ({built.image_id[:12]}, {built.method}, {built.arch})")
            source, notes = built.tag, built.notes
            models = (model,) if model else tuple(built.models)
        rec.facts = replace(rec.facts, source=source, models=tuple(models))
        for other in (m for m in prof.all_models if m not in models and not model):
            # e.g. pc-x86-32, the cpuid fallback: one image per arch, it needs its own;
            # or a model whose porter files (boot_files) were not given.
            why = next((n for n in notes if n.startswith(f"{other}: left out")),
                       f"{other} needs an image of its own arch")
            rec.check(f"[{other}] served by this image", None,
                      f"not built here: the image lists {', '.join(models)}; {why}",
                      mandatory=False)
        several = len(models) > 1
        for m in models:
            with rec.step(f"check {m}"):
                report = check_image(source, m, profile=prof)
            for row in check_rows(report.to_json(), m, several):
                rec.check(row["name"], row["ok"], row["evidence"], mandatory=row["mandatory"])
        imports: list[JsonObject] = []
        results: list[ImportResult] = []
        for m in models:
            with rec.step(f"import {m}"):
                res = import_image(source, m, out_dir=dest)
            imports.append(res.to_json())
            rec.check(f"imported as {res.tag}, labels read back from podman", True,
                      f"image {res.image_id[:12]}; " + ", ".join(
                          f"{k}={v}" for k, v in sorted(res.labels.items())))
            results.append(res)
        first = results[0]
        rec.facts = replace(rec.facts, imports=tuple(imports), labels=dict(first.labels),
                            digest=first.image_id, reference=first.tag,
                            archive=first.docker_archive,
                            import_commands=tuple(first.server_commands),
                            archive_sha256=dict(first.archive_sha256))
        return ""

    return record_stage(ImageFacts, out_dir, body)
