"""Reproducibility a maintainer can check: this run's artifacts against an earlier run's.

The artifacts that must be the same bytes for the same inputs are the
bootloader artifacts (sha256 in the bootloader stage result), the image ID
and the image archives (sha256 in the image stage result).  Console logs and
captures carry times and are not compared.  :func:`compare` is pure;
:func:`artifact_hashes` reads a run directory's stage results.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from waltport.errors import UsageError
from waltport.evidence.facts import BootloaderFacts, ImageFacts
from waltport.evidence.results import ResultError, StageResult, facts_of, read_results

IMAGE_ID = "image ID"


def hashes_from(results: Mapping[str, StageResult]) -> dict[str, str]:
    """Pure: ``{artifact: sha256 or image ID}`` from stage results."""
    out: dict[str, str] = {}
    boot = facts_of(results, BootloaderFacts)
    for a in (boot.artifacts or ()) if boot else ():
        out[a.file] = a.sha256
    image = facts_of(results, ImageFacts)
    if image is not None:
        if image.digest:
            out[IMAGE_ID] = image.digest
        for name, sha in sorted((image.archive_sha256 or {}).items()):
            out[f"image archive {Path(name).name}"] = sha
    return out


def artifact_hashes(run_dir: str | Path) -> dict[str, str]:
    """Edge: the reproducible artifacts of the run in ``run_dir`` and their hashes."""
    rd = Path(run_dir)
    if not (rd / "bootloader.json").is_file():
        raise UsageError(f"--baseline {run_dir}: not a run directory of waltport run "
                         "(no bootloader.json)")
    try:
        return hashes_from(read_results(rd, ("bootloader", "image")))
    except ResultError as err:
        raise UsageError(f"--baseline {run_dir}: {err}") from err


def compare(current: Mapping[str, str], baseline: Mapping[str, str], label: str) \
        -> dict[str, Any]:
    """Pure: which artifacts are byte-identical to the baseline's, which differ or are new."""
    identical = sorted(k for k in current if baseline.get(k) == current[k])
    different = [{"artifact": k, "sha256": current[k], "baseline": baseline[k]}
                 for k in sorted(current) if k in baseline and baseline[k] != current[k]]
    return {"run": label, "identical": identical, "different": different,
            "only_here": sorted(set(current) - set(baseline)),
            "only_in_baseline": sorted(set(baseline) - set(current)),
            "reproducible": bool(current) and not different and set(current) == set(baseline)}
