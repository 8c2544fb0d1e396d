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


def _login_time(stdout: str) -> float:
    report = json.loads(stdout)
    stages = {s["name"]: s for s in report["boots"][0]["stages"]}
    assert report["ok"], json.dumps(report, indent=1)
    return float(stages["ssh_login"]["time"])


def virtual(rootfs: Path, out: Path, lab: str) -> tuple[float, float]:
    argv = [WALTPORT, "lab", "boot", str(PROFILE), "--image-root", str(rootfs), "--out",
            str(out), "--lab", lab, "--json"]
    t = os.times().elapsed
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = os.times().elapsed - t
    return _login_time(done.stdout or done.stderr), wall


def bench(box: BenchBox, rootfs: Path, out: Path, benchfile: Path) -> tuple[float, float]:
    t = os.times().elapsed
    done = box.waltport("lab", "boot", str(PROFILE), "--bench", str(benchfile), "--image-root",
                        str(rootfs), "--out", str(out), "--i-know-this-network-is-isolated",
                        "--json")
    wall = os.times().elapsed - t
    return _login_time(done.stdout or done.stderr), wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"virtual": [], "bench in a box": []}
    with tempfile.TemporaryDirectory(prefix="waltport-bench-target-") as tmp:
        work = Path(tmp)
        rootfs = assemble_default_rootfs(load_profile(PROFILE), work / "rootfs")
        with bench_box(f"wpbm{os.getpid() % 100000}", work) as box:
            argv = box.qemu_argv("arm64", "52:54:00:b5:00:09", sd_card("qemu-arm64",
                                                                      work / "sd.img"))
            benchfile = box.bench_file("bm", power={"on": box.on_command(argv),
                                                    "off": box.off_command()})
            for i in range(args.rounds):
                results["virtual"].append(virtual(rootfs, work / f"v{i}",
                                                  f"wpbm{os.getpid() % 100000}v"))
                results["bench in a box"].append(bench(box, rootfs, work / f"b{i}", benchfile))
    med = {k: (statistics.median(a for a, _ in v), statistics.median(w for _, w in v))
           for k, v in results.items()}
    print("| target | runs | power-on to SSH login, median (s) | wall per run, median (s) |")
    print("|---|---|---|---|")
    for k, (login, wall) in med.items():
        print(f"| {k} | {len(results[k])} | {login:.2f} | {wall:.2f} |")
    v, b = med["virtual"], med["bench in a box"]
    print(f"\nratio bench/virtual: login {b[0] / v[0]:.3f}, wall {b[1] / v[1]:.3f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
