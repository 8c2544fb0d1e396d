"""``run.json``: what a ``waltport run`` asked for, read back by the stages and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"


def read_run_file(run_dir: Path) -> dict[str, Any]:
    """Edge: the run file of ``run_dir`` ({} when the stages run on their own, no run)."""
    p = run_dir / RUN_FILE
    return json.loads(p.read_text()) if p.exists() else {}
