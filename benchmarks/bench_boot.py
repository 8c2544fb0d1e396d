"""Virtual board boots: bench server vs ISC dhcpd + tftpd-hpa configured like WalT.

    .venv/bin/python benchmarks/bench_boot.py [--boots 10] [--board qemu-arm64 ...]

Same U-Boot / iPXE, same image root, same first stage, same lab; only the
server side differs.  Prints, per board and server, the success rate and the
median / p95 time (s since power-on) to the second stage and to userspace,
then the reference/bench-server ratio of the medians (> 1: the bench server
is faster).  Each boot is a new MAC, so every boot is a node's first boot.
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
from waltport.lab.stages import percentile
from waltport.net.server import BenchServer
from waltport.profile.load import load_profile

BOARDS = Path(__file__).resolve().parent.parent / "boards"
KEY_STAGES = ("second_stage_fetched", "userspace")


def _times(runs: list[BootRun], stage: str) -> list[float]:
    return [s.time for r in runs if r.ok for s in r.stages if s.name == stage
            and s.time is not None]


def run_board(board: str, boots: int, timeout: float, work: Path) -> dict[str, object]:
    shutil.rmtree(work, ignore_errors=True)
    profile = load_profile(BOARDS / f"{board}.yaml")
    model = lab_model(profile)
    root = build_image_root(profile, model, work / "image-root")
    first = first_stage(profile, work)
    results: dict[str, list[BootRun]] = {}
    lab_name = f"wpbench{os.getpid() % 10000}"
    with lab_session(lab_name) as lab:
        with BenchServer(lab, root, pxe_first_stage=first.pxe, state=work / "bench-state") as srv:
            results["bench server"] = [
                boot_once(profile, model, lab, srv, index=i, first=first,
                          out_dir=work / "bench", timeout=timeout) for i in range(boots)]
        macs = [board_mac(i, str(profile.arch)) for i in range(boots)]
        with ReferenceServer(lab, root / "boot" / model, work / "ref-state", macs=macs,
                             pxe_first_stage=first.pxe) as ref:
            results["dhcpd + tftpd-hpa"] = [
                boot_once(profile, model, lab, ref, index=i, first=first,
                          out_dir=work / "ref", timeout=timeout) for i in range(boots)]
    out: dict[str, object] = {"board": board, "boots": boots}
    for server, runs in results.items():
        row: dict[str, object] = {"ok": sum(r.ok for r in runs),
                                  "failed": [r.failed_stage for r in runs if not r.ok]}
        for stage in KEY_STAGES:
            t = _times(runs, stage)
            row[stage] = {"median": round(statistics.median(t), 2),
                          "p95": round(percentile(t, 95), 2)} if t else None
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
    args = ap.parse_args()
    boards = args.board or ["qemu-arm64", "qemu-x86-64"]
    results = []
    with tempfile.TemporaryDirectory(prefix="waltport-bench-boot-") as tmp:
        work = args.keep or Path(tmp)
        for board in boards:
            results.append(run_board(board, args.boots, args.timeout, work / board))
    print("| board | server | ok | to 2nd stage median / p95 (s) | to userspace median / p95 (s) |")
    print("|---|---|---|---|---|")
    for res in results:
        for server in ("bench server", "dhcpd + tftpd-hpa"):
            row = res[server]
            cells = [f"{row[s]['median']:.2f} / {row[s]['p95']:.2f}" if row[s] else "-"
                     for s in KEY_STAGES]
            print(f"| {res['board']} | {server} | {row['ok']}/{res['boots']} | "
                  f"{cells[0]} | {cells[1]} |")
    print()
    print("| board | ratio to 2nd stage (ref/bench) | ratio to userspace (ref/bench) |")
    print("|---|---|---|")
    for res in results:
        print(f"| {res['board']} | {ratio(res, KEY_STAGES[0])} | {ratio(res, KEY_STAGES[1])} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
