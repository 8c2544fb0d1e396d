"""What notebooks/06-probe.ipynb shows: one call per cell, each returns a displayable value."""

from __future__ import annotations

import html
from pathlib import Path

from waltport.probe.run import ProbeResult, probe_bench
from waltport.stages.show import Html, table
from waltport.widgets.form import ProfileForm


def run(bench: str, out_dir: str, *, profile: str = "", isolated: bool = False) -> ProbeResult:
    """Probe the board of ``bench`` into ``out_dir`` (``profile``: the porter's, optional)."""
    return probe_bench(bench, Path(out_dir) / "probe", profile=profile or None,
                       isolated_ack=isolated, force=True)


def verdicts(r: ProbeResult) -> Html:
    return table([v.to_json() for v in r.verdicts], ["status", "text"], title="verdicts")


def facts(r: ProbeResult) -> Html:
    """What the board said that a profile needs (``probe.json`` has everything)."""
    rows: list[dict[str, object]] = [
        {"fact": "bootloader", "value": r.facts.version},
        *({"fact": k, "value": v} for k, v in r.facts.highlights().items())]
    return table(rows, ["fact", "value"], title="what the board said")


def transcript(r: ProbeResult, tail: int = 60) -> Html:
    """The end of the console transcript (the whole one is ``console.log``)."""
    lines = (r.out / "console.log").read_text(encoding="utf-8").splitlines()[-tail:]
    text = "\n".join(lines)
    return Html(f"<pre>{html.escape(text)}</pre>", text)


def draft(r: ProbeResult) -> Html:
    text = r.draft_path.read_text(encoding="utf-8")
    state = "passes waltport check" if not r.draft_problems else \
        "to fill: " + "; ".join(r.draft_problems)
    return Html(f"<p>{html.escape(r.draft_path.name)}: {html.escape(state)}</p>"
                f"<pre>{html.escape(text)}</pre>", f"{r.draft_path.name}: {state}\n{text}")


def form(r: ProbeResult) -> ProfileForm | Html:
    """The profile form, filled from the draft (once the draft is a valid profile)."""
    if r.draft_problems:
        return Html("<p>fill these in the draft file first: "
                    f"{html.escape('; '.join(r.draft_problems))}</p>")
    return ProfileForm.from_file(r.draft_path)
