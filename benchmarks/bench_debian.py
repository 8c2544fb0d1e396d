"""Debian default image vs minimal: build time, size, power-on to SSH login, same run.

    SOURCE_DATE_EPOCH=1700000000 .venv/bin/python benchmarks/bench_debian.py \
        [--board qemu-x86-64] [--rounds 2]

Builds both images of the board (the Debian base from the cache when it is
there: a cold base build is timed by ``waltport image build PROFILE --base
debian --refresh`` after the archive moved), prints each build's time and the
image size podman reports, then boots
the two images alternately (same lab, same board, same kernel and initrd) and
prints the median time from power-on to the image's own init and to the SSH
login, with the Debian/minimal ratio.  The 1-minute load average is printed
with every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from waltport.image.build import build_image
from waltport.image.podman import PodmanService
from waltport.image.tarball import export_rootfs
from waltport.lab.boot import boot_board
from waltport.profile.load import load_profile
from waltport.util.paths import state_dir

BOARDS = Path(__file__).resolve().parent.parent / "boards"


def _load() -> float:
    return os.getloadavg()[0]


def _stage_times(report_json: dict[str, object]) -> dict[str, float | None]:
    boots = report_json["boots"]
    assert isinstance(boots, list)
    return {s["name"]: s.get("time") for s in boots[0]["stages"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="qemu-x86-64")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    profile = load_profile(BOARDS / f"{args.board}.yaml")
    tags = {}
    for base in ("minimal", "debian"):
        t0, load = time.monotonic(), _load()
        built = build_image(profile, base=base, tag=f"localhost/bench/{base}:1")
        took = time.monotonic() - t0
        with PodmanService() as svc:
            size = int(svc.get_image(built.tag).attrs.get("Size", 0))
        cached = built.base.get("cached") if built.base else None
        print(f"build {base:8s} {took:7.1f} s  size {size / 1e6:6.0f} MB  "
              f"(base cached: {cached}; load {load:.1f})", flush=True)
        tags[base] = built.tag
    login: dict[str, list[float]] = {b: [] for b in tags}
    init: dict[str, list[float]] = {b: [] for b in tags}
    loads = []
    for rnd in range(args.rounds):
        order = list(tags) if rnd % 2 == 0 else list(reversed(tags))
        for base in order:
            with tempfile.TemporaryDirectory(prefix="bench-deb-", dir=state_dir()) as work:
                root = export_rootfs(tags[base], Path(work) / "rootfs", owners=True).root
                loads.append(_load())
                report = boot_board(profile, image_root=root, lab_name=f"wpbd{os.getpid()}",
                                    out_dir=Path(work) / "out", timeout=300)
            t = _stage_times(report.to_json())
            print(f"round {rnd} {base:8s} ok={report.ok} image init "
                  f"{t.get('image_userspace')} s, ssh login {t.get('ssh_login')} s", flush=True)
            if report.ok:
                init[base].append(float(t["image_userspace"] or 0))
                login[base].append(float(t["ssh_login"] or 0))
    print(f"load average during boots: {min(loads):.1f}-{max(loads):.1f}")
    for name, series in (("image init", init), ("ssh login", login)):
        med = {b: statistics.median(v) for b, v in series.items() if v}
        if len(med) == 2:
            print(f"{name}: minimal {med['minimal']:.1f} s, debian {med['debian']:.1f} s, "
                  f"debian/minimal {med['debian'] / med['minimal']:.2f}")


if __name__ == "__main__":
    main()
