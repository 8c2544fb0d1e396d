"""The pipeline: a full cold `waltport run` per virtual board, and papermill's overhead.

    .venv/bin/python benchmarks/bench_pipeline.py [--repeat 3] [--skip-full]

1. Full run, cold: a new process runs ``waltport run BOARD --out <new dir>``
   (every stage notebook in its own fresh kernel, boots included), once per
   virtual board, then both boards as a ``-j 2`` batch (what ``make demo``
   does).  Downloaded inputs (Debian kernels/packages in ``state/cache``) and
   podman's base layers are warm: they are fetched once per machine.
2. Papermill overhead: the same stage functions (board, bootloader, image,
   report) run (a) directly in this process and (b) through their notebooks
   with papermill (``run_profile``), ``--repeat`` times each; medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from waltport.pipeline.assemble import assemble_run, write_run_file
from waltport.pipeline.runner import run_profile
from waltport.pipeline.stages import PARAMETERS, select
from waltport.stages import board, bootloader, image, report
from waltport.util.paths import PROJECT_DIR

BOARDS = [PROJECT_DIR / "boards" / f"{b}.yaml" for b in ("qemu-arm64", "qemu-x86-64")]
LIGHT = ("board", "bootloader", "image", "report")


def full_run(profiles: list[Path], jobs: int = 1) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-run-") as out:
        argv = [sys.executable, "-m", "waltport.cli", "run", *map(str, profiles), "--out",
                out, "--no-progress", "-j", str(jobs)]
        t = time.monotonic()
        rc = subprocess.run(argv, check=False, capture_output=True, text=True).returncode
        return time.monotonic() - t, rc


def direct(profile: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-direct-") as out:
        t = time.monotonic()
        write_run_file(Path(out), str(profile), {**PARAMETERS, "profile": str(profile)},
                       select(LIGHT))
        board.run(str(profile), out)
        bootloader.run(str(profile), out)
        image.run(str(profile), out)
        report.run(out)
        assemble_run(out)
        return time.monotonic() - t


def papermill(profile: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-pm-") as out:
        t = time.monotonic()
        run_profile(profile, out, stages=select(LIGHT))
        return time.monotonic() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()
    if not args.skip_full:
        print("| run | wall time (s) | exit |\n|---|---|---|")
        for p in BOARDS:
            secs, rc = full_run([p])
            print(f"| `waltport run {p.relative_to(PROJECT_DIR)}` (all stages) | {secs:.1f} "
                  f"| {rc} |", flush=True)
        secs, rc = full_run(BOARDS, jobs=2)
        print(f"| both boards, `-j 2` (make demo) | {secs:.1f} | {rc} |", flush=True)
    prof = BOARDS[0]
    direct(prof)   # warm imports and podman layers: measure the steady state
    d = statistics.median(direct(prof) for _ in range(args.repeat))
    pm = statistics.median(papermill(prof) for _ in range(args.repeat))
    print(f"\n| {', '.join(LIGHT)} of qemu-arm64 | median of {args.repeat} (s) |\n|---|---|")
    print(f"| stage functions called directly | {d:.2f} |")
    print(f"| same stages through papermill notebooks | {pm:.2f} |")
    print(f"| papermill overhead per notebook | {(pm - d) / len(LIGHT):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
