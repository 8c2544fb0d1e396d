"""Host paths out of what a run publishes: paths become relative to the run directory.

Reports, results and bundles are attached to a public issue: the absolute
path of the run directory, the checkout, the state dir or a home directory
says nothing to a maintainer and something about the porter's machine.
:func:`relativize` (pure) rewrites every string of a JSON value: a path under
the run directory becomes relative to it, one under a known root becomes
``$WALTPORT_STATE/...``, ``$WALTPORT_DIR/...``, ``$WALTPORT_CACHE/...`` or ``~/...``.
:func:`host_roots` is the edge that finds those roots.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from waltport.util.paths import PROJECT_DIR, cache_dir, state_dir

Roots = tuple[tuple[str, str], ...]   # (absolute prefix, replacement), longest first


def _variants(path: Path) -> set[str]:
    # Both spellings: the path as given and with its links resolved (/tmp -> /private/tmp).
    return {str(path).rstrip("/"), str(path.resolve()).rstrip("/")} - {"", "/"}


def host_roots(run_dir: str | Path, *, home: str | None = None) -> Roots:
    """Edge: the prefixes to rewrite for ``run_dir``, longest (most specific) first."""
    named: list[tuple[Path, str]] = [(Path(run_dir), "."), (state_dir(), "$WALTPORT_STATE"),
                                     (cache_dir(), "$WALTPORT_CACHE"),
                                     (PROJECT_DIR, "$WALTPORT_DIR")]
    home = home if home is not None else os.environ.get("HOME", "")
    if home and home != "/":
        named.append((Path(home), "~"))
    pairs = {(v, name) for path, name in named for v in _variants(path)}
    return tuple(sorted(pairs, key=lambda p: len(p[0]), reverse=True))


def _pattern(roots: Roots) -> re.Pattern[str]:
    # A root matches only as a whole path component: /work/wt-report must not
    # match inside /work/wt-report2.
    alts = "|".join(re.escape(prefix) for prefix, _ in roots)
    return re.compile(rf"(?<![\w.~$-])({alts})(?![\w.-])(/?)")


def relativize_text(text: str, roots: Roots) -> str:
    """``text`` with every rooted path rewritten (pure)."""
    if not roots:
        return text
    table = dict(roots)

    def repl(m: re.Match[str]) -> str:
        name = table[m.group(1)]
        if name == ".":
            return "" if m.group(2) else "."
        return name + m.group(2)
    return _pattern(roots).sub(repl, text)


def relativize(value: Any, roots: Roots) -> Any:
    """A JSON value with every string's rooted paths rewritten (pure)."""
    if isinstance(value, str):
        return relativize_text(value, roots)
    if isinstance(value, dict):
        return {relativize_text(str(k), roots): relativize(v, roots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [relativize(v, roots) for v in value]
    return value
