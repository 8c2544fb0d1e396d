"""The first-boot timeline: each boot's stages, seconds since power-on (matplotlib, no display)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure

from waltport.util.atomic import write_bytes


def timeline_png(boots: Sequence[Mapping[str, Any]], stage_names: Sequence[str]) -> bytes:
    """Pure: one row per boot, a marker per stage reached, a red cross where it stopped."""
    # A bare Figure (no pyplot): no backend switch inside a notebook kernel.
    fig = Figure(figsize=(10, 1.4 + 0.45 * max(len(boots), 1)))
    ax = fig.subplots()
    colors = colormaps["tab10"]
    for row, boot in enumerate(boots):
        times = {s["name"]: s["time"] for s in boot.get("stages", [])}
        reached = [(n, times[n]) for n in stage_names if times.get(n) is not None]
        if reached:
            ax.plot([t for _, t in reached], [row] * len(reached), color="0.7", zorder=1)
        for i, name in enumerate(stage_names):
            t = times.get(name)
            if t is not None:
                ax.scatter(t, row, color=colors(i % 10), zorder=2,
                           label=name if row == 0 else None)
        if boot.get("failed_stage"):
            last = reached[-1][1] if reached else 0.0
            ax.scatter(last, row, marker="x", s=90, color="tab:red", zorder=3)
            ax.text(last, row - 0.25, f" stopped before {boot['failed_stage']}",
                    color="tab:red", fontsize=8)
    ax.set_yticks(range(len(boots)), [f"boot {b.get('index', i)}" for i, b in enumerate(boots)])
    ax.set_ylim(len(boots) - 0.4, -0.8)
    ax.set_xlabel("seconds since power-on")
    ax.grid(axis="x", color="0.9")
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(boots)
                                                                       < 3 else -0.15))
    ax.set_title("First boot: stages reached")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def write_timeline(boots: Sequence[Mapping[str, Any]], stage_names: Sequence[str],
                   out: Path) -> Path:
    write_bytes(out, timeline_png(boots, stage_names))
    return out
