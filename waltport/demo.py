"""``make demo``: a full porting run of the built-in virtual boards, ending in the reports.

Runs ``waltport run boards/qemu-arm64.yaml boards/qemu-x86-64.yaml --out
reports/demo -j 2``: every stage notebook, both boards in parallel processes,
then says where the reports and the bundle to attach are.  The exit code is
the run's (non-zero when a mandatory check fails).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from waltport.cli import main as cli_main
from waltport.pipeline.report import BUNDLE_NAME
from waltport.util.paths import PROJECT_DIR

BOARDS = ("qemu-arm64", "qemu-x86-64")
OUT = PROJECT_DIR / "reports" / "demo"


def demo_argv(jobs: int = 2) -> list[str]:
    """The `waltport run` command line of the demo."""
    return ["run", *(str(PROJECT_DIR / "boards" / f"{b}.yaml") for b in BOARDS),
            "--out", str(OUT), "-j", str(jobs)]


def main(argv: Sequence[str] | None = None) -> int:
    jobs = int(os.environ.get("WALTPORT_DEMO_JOBS", "2"))
    print("demo: waltport " + " ".join([*demo_argv(jobs), *(argv or [])])
          .replace(str(PROJECT_DIR) + "/", ""), flush=True)
    started = time.time()
    rc = cli_main([*demo_argv(jobs), *(argv or [])])
    lines = [(OUT / "report.html", "open {} (one file, works offline)"),
             (OUT / "report.md", "on the WalT issue, paste {} as a comment"),
             (OUT / BUNDLE_NAME, "and attach {}")]
    print()
    for path, text in lines:
        # Only what the run wrote: a run stopped early must not point at stale files.
        if path.is_file() and path.stat().st_mtime >= started:
            print("demo: " + text.format(path))
    print(f"demo: per board: {', '.join(str(OUT / b) for b in BOARDS)}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
