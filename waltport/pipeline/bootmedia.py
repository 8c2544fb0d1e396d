"""The boot medium of a run (the card or key a porter writes), for the summary and the report.

The lab boots the medium ``waltport media`` builds, and the first-boot stage
records its sidecar as the artifact :data:`MEDIUM_ARTIFACT` (the JSON sits
beside the Markdown).  :func:`read_media` (edge) reads those JSON sidecars
back into the summary; :func:`media_views` (pure) gives the report typed
values; :func:`no_medium_reason` (pure) says, from what the first boot
recorded, why a run has none.  Nothing here is recomputed: the report shows
what the sidecar recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waltport.evidence.facts import FirstBootFacts
from waltport.evidence.results import StageResult
from waltport.media.plan import MediaError
from waltport.media.sidecar import Sidecar, json_beside

MEDIUM_ARTIFACT = "boot medium"     # the label a stage records a medium's sidecar under
# The first stage of a boot (BootReport.first_stage) -> where it came from, when not a medium.
NOT_A_MEDIUM = {
    "flash": "its first stage was a stored U-Boot environment (the SPI-flash analog), "
             "not a card",
    "pxe": "its first stage was boot.ipxe served by PXE to the network ROM, not a USB key",
    "board": "the real board booted the first stage it already has",
}


@dataclass(frozen=True)
class MediumView:
    """One recorded medium as the report shows it, or why its sidecar could not be read."""

    run: str                        # the run's label in the report
    stage: str                      # the stage that recorded it
    sidecar_file: str               # the JSON sidecar, relative to the report (in the bundle)
    sidecar: Sidecar | None
    error: str = ""


def _inside(run_dir: Path, rel: str) -> Path | None:
    # A result names a path in the run dir; never read through a link or out of it.
    path = run_dir / rel
    if path.is_symlink() or not path.resolve().is_relative_to(run_dir):
        return None
    return path


def read_media(run_dir: Path, results: Mapping[str, StageResult]) -> list[dict[str, Any]]:
    """Edge: every medium sidecar the stages recorded, as the summary's ``media`` entries.

    An entry is ``{stage, sidecar, medium}`` (``medium``: the sidecar's JSON as
    written) or ``{stage, sidecar, error}`` when it cannot be read.
    """
    rd = run_dir.resolve()
    out: list[dict[str, Any]] = []
    for name, result in results.items():
        for label, rel in result.artifacts.items():
            if label != MEDIUM_ARTIFACT:
                continue
            js = str(json_beside(Path(rel)))
            path = _inside(rd, js)
            try:
                if path is None:
                    raise MediaError(f"{js}: not a file inside the run directory")
                obj = json.loads(path.read_text(encoding="utf-8"))
                Sidecar.from_json(obj, js)   # a sidecar the report can read, or the reason
                out.append({"stage": name, "sidecar": js, "medium": obj})
            except (OSError, ValueError, MediaError) as err:
                out.append({"stage": name, "sidecar": js, "error": str(err)})
    return out


def no_medium_reason(results: Mapping[str, StageResult]) -> str:
    """Pure: why a run recorded no medium, from what its first boot recorded."""
    boot = results.get("first_boot")
    if boot is None:
        return "the first boot did not run in this run"
    facts = boot.facts(FirstBootFacts)
    mode = facts.first_stage
    if not mode:
        return f"no board was booted ({boot.message or boot.status})"
    stand_in = f" (stand-in: {facts.stand_in})" if facts.stand_in else ""
    target = facts.target or ""
    where = f"on {target}" if target.startswith("bench") else "in the lab"
    return (f"{facts.booted_model or 'the board'} booted {where}{stand_in}: " + NOT_A_MEDIUM.get(
                mode, f"its first stage ({mode}) recorded no medium sidecar"))


def media_views(summary: Mapping[str, Any], run: str, link: str = "") -> list[MediumView]:
    """Pure: a summary's ``media`` as typed views (a sidecar that does not parse: its error).

    ``link``: the run dir relative to the report (a batch's ``<board>/``).
    """
    views = []
    for m in summary.get("media") or []:
        stage, path = str(m.get("stage") or "?"), link + str(m.get("sidecar") or "?")
        if m.get("error") or not isinstance(m.get("medium"), Mapping):
            views.append(MediumView(run, stage, path, None, str(m.get("error") or "no sidecar")))
            continue
        try:
            views.append(MediumView(run, stage, path, Sidecar.from_json(m["medium"], path)))
        except MediaError as err:
            views.append(MediumView(run, stage, path, None, str(err)))
    return views


def mib(size: int) -> str:
    """A medium's size for people: ``64 MiB`` when whole, else bytes (pure)."""
    return f"{size >> 20} MiB" if size and size % (1 << 20) == 0 else f"{size} bytes"


def media_rows(runs: Sequence[tuple[str, str, Mapping[str, Any]]]) \
        -> list[tuple[str, list[MediumView], str]]:
    """Pure: per run (label, link, summary): its media views and, when it has none, why."""
    out = []
    for label, link, summary in runs:
        views = media_views(summary, label, link)
        note = "" if views else str(summary.get("media_note") or "no medium recorded")
        out.append((label, views, note))
    return out
