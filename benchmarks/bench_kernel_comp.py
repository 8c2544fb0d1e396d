"""arm64 kernel sent raw vs gzip'd (booti inflates it): TFTP time and time to userspace.

    .venv/bin/python benchmarks/bench_kernel_comp.py [--rounds 5]

The virtual arm64 board (Debian's U-Boot, Debian's arm64 kernel, the lab
initramfs) boots against the bench server with two profiles that differ only
in ``uboot.kernel_compression`` (``none``: the 33 MB raw Image; ``gzip``:
the Image gzip'd, ``kernel_comp_addr_r``/``kernel_comp_size`` set by the
second stage).  Rounds are interleaved (raw, gzip, raw, gzip...) in one lab;
each boot is a new node.  Prints medians of the kernel's TFTP transfer (from
the capture), of the time from the end of the kernel+initrd transfers to
``Starting kernel`` (booti's inflate shows up there), of kernel start and of
userspace, and the raw/gzip ratio of each (> 1: gzip is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from waltport.lab.boot import BootRun, boot_once, first_stage, lab_session
from waltport.lab.imageroot import build_image_root, lab_model
from waltport.lab.sequence import parse_pcap
from waltport.net.server import BenchServer
from waltport.profile.load import load_profile

BOARD = Path(__file__).resolve().parent.parent / "boards" / "qemu-arm64.yaml"
# qemu_arm64's U-Boot has kernel_addr_r 0x40400000 and ramdisk_addr_r 0x44000000:
# the compressed copy goes above the initrd, below U-Boot's relocated self.
COMP_ADDR = "0x48000000"
METRICS = ("kernel_tftp", "inflate", "kernel_started", "userspace")


def variant_text(compression: str) -> str:
    """The qemu-arm64 profile with ``kernel_compression`` set (pure)."""
    lines = [ln for ln in BOARD.read_text().splitlines()
             if not ln.lstrip().startswith(("kernel_compression:", "kernel_comp_addr:"))]
    out = []
    for ln in lines:
        out.append(ln)
        if ln.lstrip().startswith("boot_command:"):
            out += [f"  kernel_compression: {compression}", f"  kernel_comp_addr: '{COMP_ADDR}'"]
    return "\n".join(out) + "\n"


def metrics(run: BootRun) -> dict[str, float] | None:
    if not run.ok:
        return None
    stages = {s.name: s.time for s in run.stages}
    _dhcp, tftp = parse_pcap(Path(run.pcap).read_bytes(), run.mac)
    kernel = next((t for t in tftp if t.filename == "kernel" and t.complete), None)
    fetched, started = stages.get("kernel_fetched"), stages.get("kernel_started")
    if kernel is None or fetched is None or started is None:
        return None
    return {"kernel_tftp": kernel.end - kernel.start, "kernel_bytes": float(kernel.bytes),
            "inflate": started - fetched, "kernel_started": started,
            "userspace": float(stages["userspace"] or 0.0)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    results: dict[str, list[dict[str, float] | None]] = {"none": [], "gzip": []}
    with tempfile.TemporaryDirectory(prefix="waltport-bench-kcomp-") as tmp:
        work = Path(tmp)
        variants = {}
        for comp in results:
            path = work / f"qemu-arm64-{comp}.yaml"
            path.write_text(variant_text(comp))
            profile = load_profile(path)
            model = lab_model(profile)
            root = build_image_root(profile, model, work / comp / "image-root")
            variants[comp] = (profile, model, root, first_stage(profile, work / comp))
        index = 0
        with lab_session(f"wpkcomp{os.getpid() % 10000}") as lab:
            for _round in range(args.rounds):
                for comp, (profile, model, root, first) in variants.items():
                    with BenchServer(lab, root, state=work / comp / f"state-{index}") as srv:
                        run = boot_once(profile, model, lab, srv, index=index, first=first,
                                        out_dir=work / comp, timeout=args.timeout)
                    results[comp].append(metrics(run))
                    index += 1
    med: dict[str, dict[str, float]] = {}
    for comp, runs in results.items():
        ok = [r for r in runs if r is not None]
        med[comp] = {m: statistics.median(r[m] for r in ok) for m in (*METRICS, "kernel_bytes")} \
            if ok else {}
        print(f"{comp}: {len(ok)}/{len(runs)} boots measured")
    print(f"host load average (1 min) at start {load:.1f}, at end {os.getloadavg()[0]:.1f}")
    print("| kernel | bytes sent | kernel TFTP (s) | fetched -> Starting kernel (s) | "
          "kernel started (s) | userspace (s) |")
    print("|---|---|---|---|---|---|")
    for comp, m in med.items():
        if m:
            print(f"| {'raw Image' if comp == 'none' else 'gzip Image'} | "
                  f"{m['kernel_bytes']:.0f} | {m['kernel_tftp']:.2f} | {m['inflate']:.2f} | "
                  f"{m['kernel_started']:.2f} | {m['userspace']:.2f} |")
    if med["none"] and med["gzip"]:
        print("ratios raw/gzip: " + ", ".join(
            f"{m} {med['none'][m] / med['gzip'][m]:.2f}"
            for m in ("kernel_tftp", "kernel_started", "userspace")))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
