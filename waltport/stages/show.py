"""What the notebooks display: small HTML tables and inline plots from a stage result.

Pure helpers (values -> HTML) so the notebook cells stay one call each.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from waltport.errors import WaltportError
from waltport.evidence.facts import field_names
from waltport.evidence.results import StageResult


class Html:
    """An HTML fragment Jupyter renders (and prints as text elsewhere)."""

    def __init__(self, markup: str, text: str = "") -> None:
        self.markup = markup
        self.text = text or markup

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:
        return self.text


class ShowError(WaltportError):
    """A notebook asked for data its stage does not record (a wrong key, not a failed run)."""


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
          title: str = "", empty: str = "none") -> Html:
    """Rows of dicts as an HTML table (columns: the union of keys, in first-seen order)."""
    if not rows:
        return Html(f"<p><i>{html.escape(title or 'table')}: {html.escape(empty)}</i></p>",
                    f"{title}: {empty}")
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
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={x}" for k, x in v.items())
    return str(v)


def data_table(result: StageResult, *keys: str, title: str = "",
               columns: Sequence[str] | None = None) -> Html:
    """The list found at ``result.data.k1[k2]...`` as a table.

    ``k1`` must be a field of the stage's facts type, whatever the stage's
    status: anything else raises :class:`ShowError` naming the fields (the
    notebook asks for the wrong key: an empty table would hide it).  A field
    the stage did not record raises too when the stage passed; when it did
    not pass, the table says so.
    """
    known_fields = field_names(type(result.data))
    if not keys or keys[0] not in known_fields:
        raise ShowError(f"stage {result.stage} writes no {'.'.join(keys)!r}: "
                        f"{type(result.data).__name__} has {', '.join(known_fields)}")
    cur: Any = result.data.to_json()
    name = title or ".".join(keys)
    for i, k in enumerate(keys):
        if not isinstance(cur, Mapping) or k not in cur:
            if result.status != "pass":
                return table([], title=name, empty=f"not recorded (stage {result.status})")
            where = ".".join(keys[:i]) or "data"
            known = ", ".join(sorted(cur)) if isinstance(cur, Mapping) else type(cur).__name__
            raise ShowError(f"stage {result.stage} records no {'.'.join(keys[:i + 1])!r} "
                            f"({where} has: {known})")
        cur = cur[k]
    if not isinstance(cur, list):
        raise ShowError(f"stage {result.stage}: {'.'.join(keys)} is not a list of rows")
    return table([r if isinstance(r, Mapping) else {"value": r} for r in cur],
                 columns=columns, title=name)


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
