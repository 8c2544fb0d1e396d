"""Virtual board boots: bench server vs ISC dhcpd + tftpd-hpa configured like WalT.

    .venv/bin/python benchmarks/bench_boot.py [--boots 10] [--board qemu-arm64 ...]
        [--tftp-windowsize 1 --tftp-windowsize 16]

Same U-Boot / iPXE, same image root, same first stage, same lab; only the
server side differs, and boots alternate between the two servers.  Prints,
per board and server, the success rate and the median / p95 time (s since
power-on) to the second stage and to userspace, then the
reference/bench-server ratio of the medians (> 1: the bench server
is faster).  Each boot is a new MAC, so every boot is a node's first boot.
``--tftp-windowsize`` (repeatable) overrides the U-Boot profile's
``uboot.tftp_windowsize`` (1: one block per ACK, U-Boot's default); each
round boots every value against each server in turn.  "Kernel load" is from
the second stage fetched to the kernel (and initrd) fetched, on the capture.
The 1-minute load average (min-max over the rounds) is printed with every
result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from waltport.lab.boot import BootRun, board_mac, boot_once, first_stage, lab_session
from waltport.lab.imageroot import build_image_root, lab_model
from waltport.lab.reference import ReferenceServer
from waltport.lab.sequence import percentile
from waltport.net.server import BenchServer
from waltport.profile.load import load_profile
from waltport.profile.model import Profile

BOARDS = Path(__file__).resolve().parent.parent / "boards"
KEY_STAGES = ("second_stage_fetched", "kernel_fetched", "userspace")


def _times(runs: list[BootRun], stage: str) -> list[float]:
    return [s.time for r in runs if r.ok for s in r.stages if s.name == stage
            and s.time is not None]


def _kernel_load(runs: list[BootRun]) -> list[float]:
    out = []
    for r in runs:
        t = {s.name: s.time for s in r.stages}
        if r.ok and t.get("kernel_fetched") is not None and t.get("second_stage_fetched"):
            out.append(t["kernel_fetched"] - t["second_stage_fetched"])  # type: ignore[operator]
    return out


def with_window(profile: Profile, window: int | None) -> Profile:
    """The profile asking U-Boot for ``window`` (None: as written)."""
    if window is None or profile.uboot is None:
        return profile
    uboot = profile.uboot.model_copy(update={"tftp_windowsize": None if window == 1 else window})
    return profile.model_copy(update={"uboot": uboot})


def run_board(board: str, boots: int, timeout: float, work: Path,
              windows: list[int | None]) -> list[dict[str, object]]:
    """``boots`` rounds; each boots every window variant once against each server."""
    shutil.rmtree(work, ignore_errors=True)
    variants = []
    for window in windows:
        profile = with_window(load_profile(BOARDS / f"{board}.yaml"), window)
        model = lab_model(profile)
        vdir = work / f"window-{window}"
        root = build_image_root(profile, model, vdir / "image-root")
        variants.append((window, profile, model, root, first_stage(profile, vdir), vdir))
    results: dict[tuple[int | None, str], list[BootRun]] = {}
    loads: list[float] = []
    lab_name = f"wpbench{os.getpid() % 10000}"
    # Interleaved: one boot against each server in turn (both cannot answer DHCP on
    # one segment at once), so that every variant and server sees the same load.
    with lab_session(lab_name) as lab:
        for i in range(boots):
            loads.append(os.getloadavg()[0])
            for window, profile, model, root, first, vdir in variants:
                macs = [board_mac(n, str(profile.arch)) for n in range(boots)]
                with BenchServer(lab, root, pxe_first_stage=first.pxe,
                                 state=vdir / "bench-state") as srv:
                    results.setdefault((window, "bench server"), []).append(
                        boot_once(profile, model, lab, srv, index=i, first=first,
                                  out_dir=vdir / "bench", timeout=timeout))
                with ReferenceServer(lab, root / "boot" / model, vdir / "ref-state", macs=macs,
                                     pxe_first_stage=first.pxe) as ref:
                    results.setdefault((window, "dhcpd + tftpd-hpa"), []).append(
                        boot_once(profile, model, lab, ref, index=i, first=first,
                                  out_dir=vdir / "ref", timeout=timeout))
    return [_summary(board if window is None else f"{board}, window {window}", boots,
                     {srv: runs for (w, srv), runs in results.items() if w == window},
                     f"{min(loads):.1f}-{max(loads):.1f}") for window in windows]


def _summary(name: str, boots: int, results: dict[str, list[BootRun]],
             load: str) -> dict[str, object]:
    out: dict[str, object] = {"board": name, "boots": boots, "load": load}
    for server, runs in results.items():
        row: dict[str, object] = {"ok": sum(r.ok for r in runs),
                                  "failed": [r.failed_stage for r in runs if not r.ok]}
        for stage in KEY_STAGES:
            t = _times(runs, stage)
            row[stage] = {"median": round(statistics.median(t), 2),
                          "p95": round(percentile(t, 95), 2)} if t else None
        k = _kernel_load(runs)
        row["kernel_load"] = {"median": round(statistics.median(k), 2),
                              "p95": round(percentile(k, 95), 2)} if k else None
        out[server] = row
    return out


def ratio(result: dict[str, object], stage: str) -> str:
    bench, ref = result["bench server"], result["dhcpd + tftpd-hpa"]
    b, r = bench[stage], ref[stage]  # type: ignore[index]
    return f"{r['median'] / b['median']:.2f}" if b and r else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boots", type=int, default=10)
    ap.add_argument("--board", action="append", default=None,
                    help="qemu-arm64 and/or qemu-x86-64 (default both)")
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--keep", type=Path, help="keep logs and pcaps in this dir")
    ap.add_argument("--tftp-windowsize", type=int, action="append", default=None,
                    help="U-Boot boards: override uboot.tftp_windowsize (repeat to compare)")
    args = ap.parse_args()
    boards = args.board or ["qemu-arm64", "qemu-x86-64"]
    windows = args.tftp_windowsize or [None]
    results = []
    with tempfile.TemporaryDirectory(prefix="waltport-bench-boot-") as tmp:
        work = args.keep or Path(tmp)
        for board in boards:
            results += run_board(board, args.boots, args.timeout, work / board, windows)
    cols = ("to 2nd stage", "2nd stage -> kernel fetched (kernel load)", "to userspace")
    print("| board | server | ok | " + " | ".join(f"{c} median / p95 (s)" for c in cols)
          + " | 1-min load average (min-max over rounds) |")
    print("|---|---|---|---|---|---|---|")
    for res in results:
        for server in ("bench server", "dhcpd + tftpd-hpa"):
            row = res[server]
            cells = [f"{row[s]['median']:.2f} / {row[s]['p95']:.2f}" if row[s] else "-"
                     for s in (KEY_STAGES[0], "kernel_load", KEY_STAGES[2])]
            print(f"| {res['board']} | {server} | {row['ok']}/{res['boots']} | "
                  f"{' | '.join(cells)} | {res['load']} |")
    print()
    print("| board | ratio to 2nd stage (ref/bench) | ratio kernel load | ratio to userspace |")
    print("|---|---|---|---|")
    for res in results:
        print(f"| {res['board']} | {ratio(res, KEY_STAGES[0])} | {ratio(res, 'kernel_load')} | "
              f"{ratio(res, KEY_STAGES[2])} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
