"""report.html (one offline file, plots inlined as data URIs) and report.md (for the WalT issue).

Rendering is pure (summaries + inlined plots -> text); :func:`write_reports`
is the edge that reads plot files and writes the two reports atomically.
Both show the checklist first, each requirement once with what differs per
model or board (:mod:`waltport.pipeline.checklist`); report.md fits one
GitHub comment whatever the run (:func:`render_md`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from waltport.errors import GenerationError
from waltport.evidence.results import SYMBOL
from waltport.pipeline.bootmedia import media_rows, mib
from waltport.pipeline.checklist import checklist, run_label, subjects
from waltport.pipeline.summary import stage_entries
from waltport.util.atomic import write_text
from waltport.util.paths import templates_dir

PLOT_PREFIX = "plot:"
PLOT_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
GITHUB_COMMENT_LIMIT = 65536   # characters in one GitHub issue comment
BUNDLE_NAME = "waltport-bundle.zip"
FENCE = "`" * 3


@dataclass(frozen=True)
class RunView:
    """One board's run as the templates see it."""

    summary: Mapping[str, Any]
    link: str = ""                                    # run dir relative to the report
    plots: Sequence[tuple[str, str, str]] = field(default_factory=tuple)  # stage, label, URI


@dataclass(frozen=True)
class Hashes:
    """One artifact's sha256 (or the image ID) and the runs that produced exactly it."""

    artifact: str
    sha256: str
    runs: tuple[str, ...]


@functools.cache
def report_environment() -> jinja2.Environment:
    # Same strict settings as waltport.util.templating, plus HTML autoescape:
    # evidence comes from packets and consoles and must never become markup.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                            default_for_string=False))
    env.filters["sym"] = lambda status: SYMBOL.get(status, "?")
    env.filters["seconds"] = lambda v: f"{float(v):.1f} s" if v is not None else "–"
    env.filters["mdcell"] = md_cell
    env.filters["mdtext"] = md_text
    env.filters["short"] = short
    env.filters["fence"] = fence
    env.filters["mib"] = mib
    return env


def md_cell(text: object) -> str:
    """Text safe inside a Markdown table cell or list item (no pipes, no newlines)."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def md_text(text: object) -> str:
    """Prose safe in Markdown outside code: ``<model>`` must not read as an HTML tag."""
    return md_cell(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short(text: object, cap: int) -> str:
    """At most ``cap`` characters (0: no limit), an ellipsis saying it was cut."""
    t = str(text)
    return t if not cap or len(t) <= cap else t[:cap - 1].rstrip() + "…"


def fence(text: object) -> str:
    """Text safe inside a fenced code block (no closing fence inside it)."""
    return str(text).replace(FENCE, "'''")


def import_commands(summary: Mapping[str, Any]) -> list[str]:
    """The server-side commands the image stage recorded (none recorded: none shown)."""
    return [str(c) for c in (summary.get("image") or {}).get("import_commands") or []]


def epoch_text(epoch: int | None) -> str:
    """How artifact timestamps were set, for the report header (pure)."""
    if epoch is None:
        return "SOURCE_DATE_EPOCH unset: artifact timestamps are 0 (1970-01-01)"
    when = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"SOURCE_DATE_EPOCH={epoch} ({when})"


def hash_rows(summaries: Sequence[Mapping[str, Any]]) -> list[Hashes]:
    """Pure: the boot artifacts and image IDs of the runs, identical ones merged."""
    several = len({str((s.get("board") or {}).get("name")) for s in summaries}) > 1
    seen: dict[tuple[str, str], list[str]] = {}
    for s in summaries:
        label = run_label(s, several)
        for a in s.get("boot_artifacts") or []:
            seen.setdefault((str(a["file"]), str(a["sha256"])), []).append(label)
        digest = (s.get("image") or {}).get("digest")
        if digest:
            seen.setdefault(("image ID", str(digest)), []).append(label)
    return [Hashes(k[0], k[1], tuple(v)) for k, v in seen.items()]


def plot_files(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Pure: (label, path in the run dir) of every plot the stages recorded."""
    return [(label.removeprefix(PLOT_PREFIX), rel) for st in stage_entries(summary)
            for label, rel in st.artifacts.items() if label.startswith(PLOT_PREFIX)]


def _render(name: str, **context: object) -> str:
    try:
        return report_environment().get_template(name).render(**context)
    except jinja2.TemplateError as err:
        raise GenerationError(f"report template {name}: {err}") from err


def _context(runs: Sequence[RunView]) -> dict[str, object]:
    summaries = [r.summary for r in runs]
    first = summaries[0] if summaries else {}
    several = len({str((s.get("board") or {}).get("name")) for s in summaries}) > 1
    return {"runs": runs, "ok": all(s.get("ok") for s in summaries),
            "rows": checklist(summaries), "hashes": hash_rows(summaries),
            "subjects": subjects(summaries), "noun": "boards" if several else "models",
            "labels": [run_label(s, several) for s in summaries],
            "media": media_rows([(run_label(r.summary, several), r.link, r.summary)
                                 for r in runs]),
            "import_commands": import_commands, "plot_files": plot_files, "first": first,
            "started": min((str(s["run_started_at"]) for s in summaries
                            if s.get("run_started_at")), default=""),
            "generated_at": max((str(s.get("generated_at") or "") for s in summaries),
                                default=""),
            "epoch": epoch_text(first.get("source_date_epoch")), "bundle": BUNDLE_NAME}


def render_html(runs: Sequence[RunView]) -> str:
    """Pure: one self-contained HTML page for one or several boards."""
    return _render("report.html.j2", **_context(runs))


# (inline evidence cap, full evidence cap, hex digits of a medium's file hashes),
# tried in order until it fits (a medium's own sha256 is always given whole).
MD_BUDGETS = ((240, 2000, 64), (160, 600, 64), (100, 0, 16), (60, 0, 16))
CUT_NOTE = ("\n\n_Cut here to fit one GitHub comment: the whole report is report.html "
            "in the attached bundle._\n")


def render_md(runs: Sequence[RunView], limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """Pure: Markdown to paste as one comment on the WalT issue, at most ``limit`` chars.

    Long evidence is shortened step by step; if even the shortest form does not
    fit, the text is cut at a line with a note saying where the rest is.
    """
    text = ""
    context = _context(runs)
    for inline, full, digits in MD_BUDGETS:
        text = _render("report.md.j2", **context, cap=inline, full_cap=full, digits=digits)
        if len(text) <= limit:
            return text
    return text[:limit - len(CUT_NOTE)].rsplit("\n", 1)[0] + CUT_NOTE


def data_uri(path: Path) -> str:
    mime = PLOT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or \
        "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def inline_plots(summary: Mapping[str, Any], run_dir: Path) -> list[tuple[str, str, str]]:
    """Edge: every ``plot:*`` artifact of the run, as (stage, label, data URI)."""
    out = []
    for stage in stage_entries(summary):
        for label, rel in stage.artifacts.items():
            p = run_dir / rel
            if label.startswith(PLOT_PREFIX) and p.suffix.lower() in PLOT_TYPES and p.is_file():
                out.append((stage.name, label.removeprefix(PLOT_PREFIX), data_uri(p)))
    return out


def write_reports(report_dir: str | Path, runs: Sequence[tuple[Path, Mapping[str, Any]]]) \
        -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` in ``report_dir`` for ``(run_dir, summary)`` s."""
    base = Path(report_dir).resolve()
    views = []
    for run_dir, summary in runs:
        rd = Path(run_dir).resolve()
        link = "" if rd == base else str(rd.relative_to(base)) + "/"
        views.append(RunView(summary, link, tuple(inline_plots(summary, rd))))
    html_path, md_path = base / "report.html", base / "report.md"
    write_text(html_path, render_html(views))
    write_text(md_path, render_md(views))
    return html_path, md_path

