"""What the notebooks display: small HTML tables and inline plots from a stage result.

Pure helpers (values -> HTML) so the notebook cells stay one call each.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from waltport.pipeline.results import StageResult


class Html:
    """An HTML fragment Jupyter renders (and prints as text elsewhere)."""

    def __init__(self, markup: str, text: str = "") -> None:
        self.markup = markup
        self.text = text or markup

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:
        return self.text


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
          title: str = "") -> Html:
    """Rows of dicts as an HTML table (columns: the union of keys, in first-seen order)."""
    if not rows:
        return Html(f"<p><i>{html.escape(title or 'table')}: nothing recorded</i></p>",
                    f"{title}: nothing recorded")
    cols = list(columns or dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(title)}</caption>" if title else ""
    text = "\n".join([" | ".join(cols)] + [" | ".join(_cell(r.get(c)) for c in cols)
                                           for r in rows])
    return Html(f"<table>{cap}<tr>{head}</tr>{body}</table>", text)


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    return str(v)


def data_table(result: StageResult, *keys: str, title: str = "") -> Html:
    """The list found at ``result.data[k1][k2]...`` as a table."""
    cur: Any = result.data
    for k in keys:
        cur = cur.get(k, {}) if isinstance(cur, Mapping) else {}
    rows = cur if isinstance(cur, list) else []
    return table([r if isinstance(r, Mapping) else {"value": r} for r in rows],
                 title=title or ".".join(keys))


def plot(result: StageResult, label: str, out_dir: str | Path) -> Any:
    """A ``plot:<label>`` artifact inline (an IPython Image), or a note if absent."""
    from IPython.display import Image  # noqa: PLC0415 (only inside a kernel)

    rel = result.artifacts.get(f"plot:{label}")
    if rel is None or not (Path(out_dir) / rel).is_file():
        return Html(f"<p><i>no {html.escape(label)} plot: stage {result.status}</i></p>",
                    f"no {label} plot")
    return Image(filename=str(Path(out_dir) / rel))


def text_file(result: StageResult, label: str, out_dir: str | Path, *, tail: int = 40) -> Html:
    """The last ``tail`` lines of a text artifact (console log)."""
    rel = result.artifacts.get(label)
    p = Path(out_dir) / rel if rel else None
    if p is None or not p.is_file():
        return Html(f"<p><i>no {html.escape(label)}</i></p>", f"no {label}")
    lines = p.read_text(errors="replace").splitlines()[-tail:]
    return Html(f"<pre>{html.escape(chr(10).join(lines))}</pre>", "\n".join(lines))


def markdown_file(out_dir: str | Path, name: str) -> Any:
    """A Markdown file of the run (report.md) rendered inline."""
    from IPython.display import Markdown  # noqa: PLC0415 (only inside a kernel)

    p = Path(out_dir) / name
    return Markdown(p.read_text()) if p.is_file() else Html(f"<p><i>no {html.escape(name)}</i></p>")
