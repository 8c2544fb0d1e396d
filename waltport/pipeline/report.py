"""report.html (one offline file, plots inlined as data URIs) and report.md (for the WalT issue).

Rendering is pure (summaries + inlined plots -> text); :func:`write_reports`
is the edge that reads plot files and writes the two reports atomically.
"""

from __future__ import annotations

import base64
import functools
import html
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from waltport.errors import GenerationError
from waltport.pipeline.results import SYMBOL, StageResult
from waltport.util.atomic import write_text
from waltport.util.paths import templates_dir

PLOT_PREFIX = "plot:"
PLOT_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class RunView:
    """One board's run as the templates see it."""

    summary: Mapping[str, Any]
    link: str = ""                                    # run dir relative to the report
    plots: Sequence[tuple[str, str, str]] = field(default_factory=tuple)  # stage, label, URI


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
    return env


def md_cell(text: object) -> str:
    """Text safe inside a Markdown table cell or list item (no pipes, no newlines)."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def import_commands(summary: Mapping[str, Any]) -> list[str]:
    """The commands a WalT server admin runs to install the default image."""
    image = summary.get("image", {}) or {}
    if image.get("import_commands"):
        return list(image["import_commands"])
    models = summary.get("models") or []
    if not models:
        return []
    ref = image.get("reference") or f"waltport/{models[0]}-default:latest"
    archive = image.get("archive") or f"{models[0]}-default.tar"
    cmds = [f"podman load -i {archive}"]
    cmds += [f"podman tag {ref} docker.io/waltplatform/{m}-default:latest" for m in models]
    cmds += ["walt image show --refresh", "walt advanced update-default-images"]
    return cmds


def _render(name: str, **context: object) -> str:
    try:
        return report_environment().get_template(name).render(**context)
    except jinja2.TemplateError as err:
        raise GenerationError(f"report template {name}: {err}") from err


def _context(runs: Sequence[RunView]) -> dict[str, object]:
    ok = all(r.summary.get("ok") for r in runs)
    first = runs[0].summary if runs else {}
    when = first.get("generated_at", "")
    if first.get("date_source") == "SOURCE_DATE_EPOCH":
        when += " (SOURCE_DATE_EPOCH)"
    return {"runs": runs, "ok": ok, "import_commands": import_commands, "generated_at": when}


def render_html(runs: Sequence[RunView]) -> str:
    """Pure: one self-contained HTML page for one or several boards."""
    return _render("report.html.j2", **_context(runs))


def render_md(runs: Sequence[RunView]) -> str:
    """Pure: Markdown to paste as a comment on the WalT issue."""
    return _render("report.md.j2", **_context(runs))


def data_uri(path: Path) -> str:
    mime = PLOT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or \
        "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def inline_plots(summary: Mapping[str, Any], run_dir: Path) -> list[tuple[str, str, str]]:
    """Edge: every ``plot:*`` artifact of the run, as (stage, label, data URI)."""
    out = []
    for stage in summary.get("stages", []):
        for label, rel in (stage.get("artifacts") or {}).items():
            p = run_dir / rel
            if label.startswith(PLOT_PREFIX) and p.suffix.lower() in PLOT_TYPES and p.is_file():
                out.append((stage["name"], label.removeprefix(PLOT_PREFIX), data_uri(p)))
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


def stage_html(result: StageResult) -> str:
    """A stage result as a small HTML table (what a notebook cell shows)."""
    rows = "".join(
        f"<tr><td>{SYMBOL[c.status]}</td><td>{html.escape(c.name)}</td>"
        f"<td>{'mandatory' if c.mandatory else 'optional'}</td>"
        f"<td><code>{html.escape(c.evidence)}</code></td></tr>" for c in result.checks)
    msg = f"<p>{html.escape(result.message)}</p>" if result.message else ""
    return (f"<h4>{SYMBOL[result.status]} stage {html.escape(result.stage)}: "
            f"{result.status}</h4>{msg}<table><tr><th></th><th>check</th><th></th>"
            f"<th>evidence</th></tr>{rows}</table>")
