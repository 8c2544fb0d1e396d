"""Write a profile's bootloader artifacts to a directory: atomically, linted, with a manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from waltport.bootloader.lint import Finding, lint_texts
from waltport.bootloader.render import render_artifacts, render_texts
from waltport.errors import LintError
from waltport.profile.model import Profile
from waltport.util.outdir import check_out_dir, output_dir


@dataclass(frozen=True)
class Manifest:
    """What was written: the directory, each artifact's sha256, the lint findings."""

    out_dir: Path
    artifacts: dict[str, str]       # name -> sha256
    profile_sha256: str
    findings: tuple[Finding, ...]

    def path(self, name: str) -> Path:
        return self.out_dir / name


def generate_bootloader(profile: Profile, out_dir: str | Path, *,
                        strict: bool = True, force: bool = False) -> Manifest:
    """Render, lint and write every artifact of ``profile`` into ``out_dir``.

    Lint errors stop the generation (``LintError``) unless ``strict`` is false.
    ``out_dir`` follows :func:`waltport.util.outdir.output_dir`: a directory
    waltport wrote is replaced as a whole, someone else's is refused unless
    ``force``; a failure leaves no partial output.
    """
    findings = lint_texts(profile, render_texts(profile))
    errors = [f for f in findings if f.severity == "error"]
    if errors and strict:
        raise LintError(errors)
    artifacts = render_artifacts(profile)
    dest = check_out_dir(out_dir, force=force)
    with output_dir(dest, "bootloader", force=force) as stage:
        for name, data in artifacts.items():
            (stage / name).write_bytes(data)
    manifest = json.loads(artifacts["manifest.json"])
    return Manifest(dest, {k: v["sha256"] for k, v in manifest["artifacts"].items()},
                    manifest["profile"]["sha256"], tuple(findings))
