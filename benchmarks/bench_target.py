"""The target layer's cost: power-on to SSH login, bench-in-a-box vs the plain virtual board.

    .venv/bin/python benchmarks/bench_target.py [--rounds 5]

Same board (Debian's U-Boot, qemu-arm64, boot.scr on an SD-card image), same
default-image root (own init, dropbear), same run: rounds interleave the
plain virtual board (``waltport lab boot``: QEMU's stdio console, a tap in
the lab) and the bench in a box (``waltport lab boot --bench``: power shell
commands starting QEMU with ``-daemonize``, a pyserial console on a socat pty,
a veth cable to an interface of the bench namespace).  Both run as the CLI a
porter types.  Prints the medians of the ``ssh_login`` stage time (seconds
since power-on) and of the wall time per run, and bench/virtual ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench_fixtures import BOARDS, BenchBox, bench_box, sd_card  # noqa: E402

from waltport.image.rootfs import assemble_default_rootfs  # noqa: E402
from waltport.profile.load import load_profile  # noqa: E402

PROFILE = BOARDS / "qemu-arm64.yaml"
WALTPORT = str(ROOT / ".venv" / "bin" / "waltport")


STAGES = ("walt_dhcp", "kernel_fetched", "kernel_started", "userspace", "image_userspace",
          "ssh_login")


def _stage_times(stdout: str) -> dict[str, float]:
    report = json.loads(stdout)
    assert report["ok"], json.dumps(report, indent=1)
    stages = {s["name"]: s for s in report["boots"][0]["stages"]}
    times = {name: float(stages[name]["time"]) for name in STAGES}
    times["ssh_attempts"] = float(stages["ssh_login"]["evidence"]["attempts"])
    return times


def virtual(rootfs: Path, out: Path, lab: str) -> dict[str, float]:
    argv = [WALTPORT, "lab", "boot", str(PROFILE), "--image-root", str(rootfs), "--out",
            str(out), "--lab", lab, "--json"]
    t = os.times().elapsed
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = os.times().elapsed - t
    return {**_stage_times(done.stdout or done.stderr), "wall": wall}


def bench(box: BenchBox, rootfs: Path, out: Path, benchfile: Path) -> dict[str, float]:
    t = os.times().elapsed
    done = box.waltport("lab", "boot", str(PROFILE), "--bench", str(benchfile), "--image-root",
                        str(rootfs), "--out", str(out), "--i-know-this-network-is-isolated",
                        "--json")
    wall = os.times().elapsed - t
    return {**_stage_times(done.stdout or done.stderr), "wall": wall}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = {"virtual": [], "bench in a box": []}
    with tempfile.TemporaryDirectory(prefix="waltport-bench-target-") as tmp:
        work = Path(tmp)
        rootfs = work / "rootfs"
        assemble_default_rootfs(load_profile(PROFILE), rootfs)
        with bench_box(f"wpbm{os.getpid() % 100000}", work) as box:
            argv = box.qemu_argv("arm64", "52:54:00:b5:00:09", sd_card("qemu-arm64",
                                                                      work / "sd.img"))
            benchfile = box.bench_file("bm", power={"on": box.on_command(argv),
                                                    "off": box.off_command()})
            for i in range(args.rounds):
                results["virtual"].append(virtual(rootfs, work / f"v{i}",
                                                  f"wpbm{os.getpid() % 100000}v"))
                results["bench in a box"].append(bench(box, rootfs, work / f"b{i}", benchfile))
    cols = (*STAGES, "ssh_attempts", "wall")
    med = {k: {c: statistics.median(r[c] for r in v) for c in cols} for k, v in results.items()}
    print("medians over interleaved rounds, seconds since power-on (wall: whole CLI run)")
    print("| target | runs | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for k, m in med.items():
        print(f"| {k} | {len(results[k])} | " + " | ".join(f"{m[c]:.2f}" for c in cols) + " |")
    v, b = med["virtual"], med["bench in a box"]
    print("\nratio bench/virtual: " + ", ".join(f"{c} {b[c] / v[c]:.3f}" for c in
                                                 ("kernel_started", "image_userspace",
                                                  "ssh_login", "wall")))
    # Rounds are pairs run back to back: the median of their ratios is less
    # sensitive to the load of a shared machine drifting over the run.
    pairs = list(zip(results["virtual"], results["bench in a box"], strict=True))
    print("median of per-round ratios: " + ", ".join(
        f"{c} {statistics.median(b_[c] / v_[c] for v_, b_ in pairs):.3f}"
        for c in ("kernel_started", "ssh_login", "wall")))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
