"""The first-boot timeline: each boot's stages, seconds since power-on (matplotlib, no display)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from waltport.util.atomic import write_bytes


def timeline_png(boots: Sequence[Mapping[str, Any]], stage_names: Sequence[str]) -> bytes:
    """Pure: one row per boot stage, one dot per boot at the time it was reached.

    Rows rather than one line per boot: stages a few ms apart stay readable,
    and the spread of the dots over several boots shows the reliability.
    Failed boots are drawn in red; the median of the passing boots is written
    at the end of each row.
    """
    names = [n for n in stage_names if n != "power_on"]
    # A bare Figure (no pyplot): no backend switch inside a notebook kernel.
    fig = Figure(figsize=(10, 1.0 + 0.42 * len(names)))
    ax = fig.subplots()
    end = 0.0
    for row, name in enumerate(names):
        ok_times = []
        for k, boot in enumerate(boots):
            t = next((s["time"] for s in boot.get("stages", []) if s["name"] == name), None)
            if t is None:
                continue
            end = max(end, t)
            jitter = (k - (len(boots) - 1) / 2) * min(0.3 / max(len(boots), 1), 0.08)
            ax.scatter(t, row + jitter, s=28, zorder=2,
                       color="tab:green" if boot.get("ok") else "tab:red")
            if boot.get("ok"):
                ok_times.append(t)
        if ok_times:
            med = sorted(ok_times)[len(ok_times) // 2]
            ax.annotate(f"{med:.2f} s", (med, row), xytext=(8, -3),
                        textcoords="offset points", fontsize=8)
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=9)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, end * 1.12 + 0.1)
    ax.set_xlabel("seconds since power-on")
    ax.grid(axis="x", color="0.9")
    ok = sum(1 for b in boots if b.get("ok"))
    ax.set_title(f"First boot: stage reached, {ok}/{len(boots)} boot(s) to userspace",
                 fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def write_timeline(boots: Sequence[Mapping[str, Any]], stage_names: Sequence[str],
                   out: Path) -> Path:
    write_bytes(out, timeline_png(boots, stage_names))
    return out
