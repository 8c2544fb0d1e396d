"""Stage 01: generate the bootloader artifacts, lint them, record their hashes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from waltport.bootloader.generate import generate_bootloader
from waltport.bootloader.scriptimage import parse_script_image
from waltport.evidence.facts import ArtifactHash, BootloaderFacts, JsonObject
from waltport.evidence.recorder import Recorder, record_stage
from waltport.evidence.results import StageResult
from waltport.profile.load import load_profile
from waltport.util.hashing import sha256_file

SCRIPT_IMAGE_SUFFIXES = (".scr", ".uboot", ".uimg")


def _script_image_evidence(files: list[Path]) -> tuple[bool | None, str]:
    images = [f for f in files if f.suffix in SCRIPT_IMAGE_SUFFIXES]
    if not images:
        return None, "no U-Boot script image for this bootloader"
    notes = []
    for f in images:
        img = parse_script_image(f.read_bytes(), str(f.name))
        notes.append(f"{f.name}: script image {img.to_json().get('name', '')!s}, "
                     f"{f.stat().st_size} B, header and data CRC32 valid")
    return True, "; ".join(notes)


def run(profile: str, out_dir: str) -> StageResult:
    """Generate into ``<out_dir>/bootloader/``, lint; writes ``<out_dir>/bootloader.json``."""

    def body(rec: Recorder[BootloaderFacts]) -> str:
        prof = load_profile(profile)
        dest = rec.subdir("bootloader")
        with rec.step("generate"):
            # Not strict: lint errors become a failed check with evidence, not an exception.
            manifest_obj = generate_bootloader(prof, dest, strict=False)
        # Hidden files (the output marker of util.outdir) are bookkeeping, not artifacts:
        # the report's reproducibility table lists exactly the boot artifacts.
        files = sorted(p for p in dest.rglob("*") if p.is_file() and not p.name.startswith("."))
        hashes = {str(p.relative_to(dest)): sha256_file(p) for p in files}
        sizes = {str(p.relative_to(dest)): p.stat().st_size for p in files}
        rec.facts = replace(rec.facts, artifacts=tuple(
            ArtifactHash(f"bootloader/{k}", v, sizes[k]) for k, v in hashes.items()))
        manifest = dest / "manifest.json"
        if manifest.exists():
            rec.artifact("manifest", manifest)
            rec.facts = replace(rec.facts, manifest=json.loads(manifest.read_text()))
        rec.check("first and second stage generated", bool(files),
                  ", ".join(f"{k} ({sizes[k]} B, sha256 {v[:12]}…)" for k, v in hashes.items()))
        findings = manifest_obj.findings
        rows: list[JsonObject] = [{"artifact": f.artifact, "line": f.line, "code": f.code,
                                   "severity": f.severity, "message": f.message}
                                  for f in findings]
        rec.facts = replace(rec.facts, lint=tuple(rows))
        errors = [r for r in rows if r["severity"] == "error"]
        rec.check("lint: no errors in the generated scripts", not errors,
                  f"{len(errors)} error(s), {len(rows) - len(errors)} other finding(s)"
                  + "".join(f"; {r['artifact']}:{r['line']} {r['code']} {r['message']}"
                            for r in errors[:5]))
        with rec.step("script_images"):
            ok, evidence = _script_image_evidence(files)
        rec.check("script images are valid legacy U-Boot images", ok, evidence)
        return ""

    return record_stage(BootloaderFacts, out_dir, body)
