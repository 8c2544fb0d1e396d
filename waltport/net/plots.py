"""Pictures of an analysis: a ladder diagram and a transfer timeline (PNG or SVG).

Deterministic: Agg backend, fixed SVG hash salt, no dates in the metadata, so
the same analysis gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from waltport.net.analysis import Analysis
from waltport.util.atomic import write_bytes

MAX_ROWS = 60


def _save(fig: plt.Figure, out: Path) -> Path:
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "svg"):
        raise ValueError(f"{out}: plots are written as .png or .svg")
    buf = io.BytesIO()
    meta: dict[str, str | None] = {"Date": None} if fmt == "svg" else {"Software": None}
    with plt.rc_context({"svg.hashsalt": "waltport", "svg.fonttype": "none"}):
        fig.savefig(buf, format=fmt, metadata=meta, dpi=100)
    plt.close(fig)
    write_bytes(out, buf.getvalue())
    return out


def ladder_rows(a: Analysis) -> list[tuple[float, bool, str]]:
    """(time since t0, client->server?, label) for DHCP messages and TFTP milestones."""
    rows: list[tuple[float, bool, str]] = []
    for t in a.dhcp:
        for m in t.messages:
            ident = f" {m.vci or ''}{' / ' + m.uci if m.uci else ''}" if m.src == "client" else (
                f" {m.yiaddr}" + (f" file={m.file}" if m.file else ""))
            rows.append((m.time - a.t0, m.src == "client", f"DHCP {m.type}{ident}"))
    for x in a.tftp:
        rows.append((x.start - a.t0, True, f"TFTP RRQ {x.file}"))
        end = "; ".join(x.errors) if x.errors else f"{x.bytes} B, blksize {x.blksize}, " \
            f"window {x.windowsize}, {'complete' if x.complete else 'INCOMPLETE'}"
        rows.append((x.end - a.t0, False, f"TFTP end {x.file}: {end}"))
    for when, text in a.notifications:
        rows.append((when - a.t0, True, text))
    return sorted(rows)[:MAX_ROWS]


def ladder(analysis: Analysis, out: Path) -> Path:
    """Client/server sequence diagram with times (first 60 events)."""
    rows = ladder_rows(analysis)
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.32 * max(len(rows), 1)))
    ax.set_xlim(-0.3, 1.6)
    ax.set_ylim(len(rows) + 0.5, -0.8)
    for x, name in ((0.0, "client(s)"), (1.0, "bench server")):
        ax.axvline(x, color="0.6", lw=1)
        ax.text(x, -0.6, name, ha="center", weight="bold")
    for i, (t, up, label) in enumerate(rows):
        x0, x1 = (0.0, 1.0) if up else (1.0, 0.0)
        ax.annotate("", xy=(x1, i + 0.3), xytext=(x0, i),
                    arrowprops={"arrowstyle": "->", "color": "tab:blue" if up else "tab:green"})
        ax.text(-0.05, i + 0.15, f"{t:8.3f} s", ha="right", va="center", family="monospace",
                fontsize=8)
        ax.text(1.05, i + 0.15, label[:90], ha="left", va="center", fontsize=8)
    ax.axis("off")
    return _save(fig, Path(out))


def transfer_timeline(analysis: Analysis, out: Path) -> Path:
    """One bar per TFTP transfer (start, duration), labelled with size and throughput."""
    xs = list(analysis.tftp)[:MAX_ROWS]
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.35 * max(len(xs), 1)))
    for i, x in enumerate(xs):
        dur = max(x.duration, 1e-6)
        ax.barh(i, dur, left=x.start - analysis.t0,
                color="tab:green" if x.complete else "tab:red")
        rate = x.bytes / dur / 1e6
        ax.text(x.end - analysis.t0, i, f" {x.file} {x.bytes} B {rate:.1f} MB/s", va="center",
                fontsize=8)
    ax.set_yticks(range(len(xs)), [f"{x.client}:{x.port}" for x in xs], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since first packet")
    ax.set_title("TFTP transfers")
    return _save(fig, Path(out))
