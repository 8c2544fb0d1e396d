"""The pipeline: a full cold `waltport run` per virtual board, and papermill's overhead.

    .venv/bin/python benchmarks/bench_pipeline.py [--repeat 3] [--skip-full]
        [--rounds 1] [--peer-tree DIR] [--lab PREFIX]

1. Full run, cold: a new process runs ``waltport run BOARD --out <new dir>``
   (every stage notebook in its own fresh kernel, boots included), once per
   virtual board, then both boards as a ``-j 2`` batch (what ``make demo``
   does).  Downloaded inputs (Debian kernels/packages in the download cache) and
   podman's base layers are warm: they are fetched once per machine.
   ``--peer-tree DIR``: the same runs of another source tree of waltport (e.g.
   ``git archive`` of an earlier commit, unpacked), imported through
   ``PYTHONPATH`` with the same state dir, alternating with this tree's runs
   for ``--rounds`` rounds (which tree goes first alternates too); medians and
   the ratio peer / this tree.  Every run boots in labs named after
   ``--lab`` (default ``wpbench-<pid>``), so other users' labs are never touched.
2. Papermill overhead: the same stage functions (board, bootloader, image,
   report) run (a) directly in this process and (b) through their notebooks
   with papermill (``run_profile``), ``--repeat`` times each; medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from waltport.pipeline.assemble import assemble_run, report_stage, write_run_file
from waltport.pipeline.registry import PARAMETERS, select
from waltport.pipeline.runner import run_profile
from waltport.stages import board, bootloader, image
from waltport.util.paths import PROJECT_DIR

BOARDS = [PROJECT_DIR / "boards" / f"{b}.yaml" for b in ("qemu-arm64", "qemu-x86-64")]
LIGHT = ("board", "bootloader", "image", "report")


def full_run(profiles: list[Path], lab: str, jobs: int = 1, tree: Path | None = None) \
        -> tuple[float, int]:
    """Wall time and exit code of one ``waltport run`` (of ``tree``'s waltport if given)."""
    env = dict(os.environ, WALTPORT_STATE=str(os.environ.get("WALTPORT_STATE",
                                                             PROJECT_DIR / "state")))
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as out:
        argv = [sys.executable, "-m", "waltport.cli", "run", *map(str, profiles), "--out",
                out, "--no-progress", "-j", str(jobs), "-p", f"lab_name={lab}"]
        t = time.monotonic()
        rc = subprocess.run(argv, check=False, capture_output=True, text=True, env=env,
                            cwd=tree or PROJECT_DIR).returncode
        return time.monotonic() - t, rc


def full_runs(rounds: int, lab: str, peer: Path | None) -> None:
    """Each board alone, then both as ``-j 2``; this tree and ``peer`` alternating."""
    runs = [(f"`waltport run {p.relative_to(PROJECT_DIR)}` (all stages)", [p], 1)
            for p in BOARDS] + [("both boards, `-j 2` (make demo)", BOARDS, 2)]
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if peer is not None:
        trees.append(("peer", peer))
    times: dict[tuple[str, str], list[float]] = {}
    codes: dict[tuple[str, str], set[int]] = {}
    for r in range(rounds):
        for label, profiles, jobs in runs:
            for name, tree in trees if r % 2 == 0 else trees[::-1]:
                secs, rc = full_run(profiles, lab, jobs, tree)
                times.setdefault((label, name), []).append(secs)
                codes.setdefault((label, name), set()).add(rc)
                print(f"round {r + 1}: {name}: {label}: {secs:.1f} s (exit {rc})",
                      file=sys.stderr, flush=True)
    head = " | ".join(f"{n}: median (s), exit" for n, _ in trees)
    print(f"| run | {head} |{' peer / this tree |' if peer else ''}")
    print("|---|" + "---|" * (len(trees) + (1 if peer else 0)))
    for label, _, _ in runs:
        med = {n: statistics.median(times[(label, n)]) for n, _ in trees}
        cells = " | ".join(f"{med[n]:.1f}, {sorted(codes[(label, n)])}" for n, _ in trees)
        ratio = f" {med['peer'] / med['this tree']:.2f} |" if peer else ""
        print(f"| {label} | {cells} |{ratio}", flush=True)


def direct(profile: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-direct-") as out:
        t = time.monotonic()
        write_run_file(Path(out), str(profile), {**PARAMETERS, "profile": str(profile)},
                       select(LIGHT))
        board.run(str(profile), out)
        bootloader.run(str(profile), out)
        image.run(str(profile), out)
        report_stage(out)
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
    ap.add_argument("--rounds", type=int, default=1, help="full runs per tree")
    ap.add_argument("--peer-tree", type=Path, help="another waltport source tree to compare")
    ap.add_argument("--lab", default=f"wpbench-{os.getpid() % 100000}",
                    help="lab name prefix (each board: a lab of its own)")
    ap.add_argument("--skip-overhead", action="store_true")
    args = ap.parse_args()
    if not args.skip_full:
        full_runs(args.rounds, args.lab, args.peer_tree)
    if args.skip_overhead:
        return 0
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
