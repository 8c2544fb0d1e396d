"""Stage 00: load and validate the board profile; check the detection rules on samples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from waltport.errors import ProfileError
from waltport.evidence.facts import BoardFacts, JsonObject
from waltport.evidence.recorder import Recorder, record_stage
from waltport.evidence.results import StageResult
from waltport.profile.detect import DetectError, Detection, check_samples, detect
from waltport.profile.load import load_profile, profile_digest
from waltport.profile.model import Profile, UBootDetect


def detect_rows(profile: Profile) -> list[JsonObject]:
    """One row per sample (or the single model): value, expected, detected, identifier."""
    d = profile.detect
    rows: list[JsonObject] = []
    if d is None:
        m = profile.all_models[0]
        return [{"value": "(no rules)", "expected": m, "detected": m,
                 "identifier": profile.identifier(m), "ok": True}]
    for value, expected in profile.samples.items():
        try:
            if isinstance(d, UBootDetect):
                got: Detection = detect(profile, {d.source: value})
            else:   # IpxeCpuidDetect: the only other method
                got = detect(profile, cpu_64bit=value in ("64", "64bit", "64-bit", "true"))
        except DetectError as err:
            rows.append({"value": value, "expected": expected, "detected": None,
                         "identifier": None, "ok": False, "error": str(err)})
            continue
        rows.append({"value": value, "expected": expected, "detected": got.model,
                     "identifier": got.identifier, "ok": got.model == expected})
    return rows


def board_facts(profile: Profile, path: Path) -> BoardFacts:
    """Pure: the board block of the summary, from the validated profile."""
    return BoardFacts(name=profile.name, description=profile.description,
                      arch=str(profile.arch), bootloader=str(profile.bootloader),
                      dhcp_identifier=str(profile.dhcp_identifier),
                      models=tuple(profile.all_models),
                      identifiers=tuple(profile.identifier(m) for m in profile.all_models),
                      profile_path=str(path), profile_digest=profile_digest(profile))


def run(profile: str, out_dir: str, *, model: str = "") -> StageResult:
    """Validate ``profile`` and its detection rules; writes ``<out_dir>/board.json``.

    ``model``: this run is about one sub-model of the family (its arch and
    identifier are the board block's).
    """

    def body(rec: Recorder[BoardFacts]) -> str:
        path = Path(profile)
        with rec.step("load"):
            try:
                prof = load_profile(path)
            except ProfileError as err:
                rec.facts = replace(rec.facts, problems=tuple(str(p) for p in err.problems))
                rec.check("profile is valid", False, str(err))
                return f"invalid profile {path}"
        rec.check("profile is valid", True,
                  f"{path.name}: {len(prof.all_models)} model(s) "
                  f"{', '.join(prof.all_models)}; {prof.bootloader}, "
                  f"{prof.dhcp_identifier.value.upper()}")
        rec.facts = board_facts(prof, path.resolve())
        if model:
            if not rec.check(f"sub-model {model} is one of the family's models",
                             model in prof.all_models,
                             f"{model} in {', '.join(prof.all_models)}, arch "
                             f"{prof.arch_of(model)}"):
                return f"{model} is not a model of {prof.name}"
            rec.facts = replace(rec.facts, model=model, arch=str(prof.arch_of(model)),
                                models=(model,), identifiers=(prof.identifier(model),))
        rec.check("model names fit WalT (walt.node.<model>)", True,
                  ", ".join(prof.identifier(m) for m in prof.all_models))
        with rec.step("detect"):
            rows = detect_rows(prof)
            bad = check_samples(prof)
        rec.facts = replace(rec.facts, detect_rows=tuple(rows))
        if prof.detect is None:
            rec.check("sub-model detection", None, "one model: no detection rules needed",
                      mandatory=False)
        else:
            rec.check("sub-model detection matches the samples", not bad and bool(rows),
                      f"{len(rows) - len(bad)}/{len(rows)} samples detected as expected"
                      + (f"; wrong: {bad}" if bad else ""))
        return ""

    return record_stage(BoardFacts, out_dir, body)
