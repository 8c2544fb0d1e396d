"""One TFTP stream in a lab: bench server vs tftpd-hpa, same clients, same run, interleaved.

    .venv/bin/python benchmarks/bench_tftp.py [--size-mib 64] [--rounds 5]

Both servers run at once in the lab's server namespace: the bench server
(``BenchServer``, the ``waltport serve`` code path, its TFTP workers) on the
lab's address, ``in.tftpd --foreground --listen --address IP2:69 --secure
ROOT`` on a second address of the same bridge.  Each round fetches the file
once per (client, server), alternating which server goes first, so both see
the same load; the load average is recorded with every round.  Prints
Markdown: the median time per (client, server), the speed ratio bench /
tftpd-hpa of the medians and the median of the per-round ratios.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from net_fixtures import udhcpc

from waltport.host.netns import Lab
from waltport.net.server import BenchServer

CLIENTS = {
    "tftp-hpa (512)": lambda ip, f, out: ["tftp", ip, "-m", "binary", "-c", "get", f, out],
    "curl blksize 1468": lambda ip, f, out: ["curl", "-sS", "--tftp-blksize", "1468", "-o", out,
                                             f"tftp://{ip}/{f}"],
    "atftp blksize 1468": lambda ip, f, out: [
        "atftp", "--option", "blksize 1468", "-g", "-r", f, "-l", out, ip],
    "atftp blksize 1468 window 8": lambda ip, f, out: [
        "atftp", "--option", "blksize 1468", "--option", "windowsize 8", "-g", "-r", f, "-l",
        out, ip],
}
BENCH, HPA = "bench server", "tftpd-hpa"


def fetch(lab: Lab, argv: list[str], out: Path, want: bytes) -> float:
    """Seconds for one client run; the file must arrive byte for byte."""
    t = time.monotonic()
    subprocess.run(lab.client_exec_argv(argv), check=True, capture_output=True, timeout=600)
    dt = time.monotonic() - t
    if out.read_bytes() != want:
        raise SystemExit(f"{argv[0]}: the file differs")
    out.unlink()
    return dt


def loads() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    size = args.size_mib << 20
    lab = Lab(f"wpb-tftp-{os.getpid() % 100000}").up()
    hpa_ip = str(lab.network.network_address + 2)  # outside the DHCP pool (.10 on)
    times: dict[tuple[str, str], list[float]] = {}
    round_loads: list[str] = []
    loop: object = "?"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.chmod(tmp, 0o755)
        img = tmp / "img" / "boot" / "bench"
        img.mkdir(parents=True)
        payload = os.urandom(size)
        (img / "big.bin").write_bytes(payload)
        out = tmp / "o"
        hpa: subprocess.Popen[bytes] | None = None
        try:
            with BenchServer(lab, tmp / "img", state=tmp / "state") as srv:
                loop = srv.info.get("tftp_lockstep", "Python")
                udhcpc(lab, tmp, "-V", "walt.node.bench")
                subprocess.run(["ip", "-n", lab.netns, "addr", "add", f"{hpa_ip}/24", "dev",
                                lab.bridge], check=True)
                hpa = subprocess.Popen(lab.exec_argv(
                    ["in.tftpd", "--foreground", "--listen", "--address", f"{hpa_ip}:69",
                     "--secure", str(img)]))
                time.sleep(0.5)
                servers = {BENCH: lab.server_ip, HPA: hpa_ip}
                for n in range(args.rounds):
                    before = loads()
                    order = [BENCH, HPA] if n % 2 == 0 else [HPA, BENCH]
                    for client, mk in CLIENTS.items():
                        for server in order:
                            dt = fetch(lab, mk(servers[server], "big.bin", str(out)), out,
                                       payload)
                            times.setdefault((client, server), []).append(dt)
                    round_loads.append(f"{before} -> {loads()}")
        finally:
            if hpa is not None:
                hpa.terminate()
                hpa.wait()
            lab.down()
    mib = args.size_mib
    print(f"{args.rounds} interleaved rounds, {mib} MiB random file; bench server's "
          f"lock-step loop: {loop}; load average (1/5/15 min) before -> after each round:")
    for n, text in enumerate(round_loads, 1):
        print(f"- round {n}: {text}")
    print("\n| client | bench server median (s) | tftpd-hpa median (s) | bench MB/s | "
          "tftpd-hpa MB/s | speed ratio of medians | median of per-round ratios "
          "(min-max) |\n|---|---|---|---|---|---|---|")
    for client in CLIENTS:
        b, h = times[(client, BENCH)], times[(client, HPA)]
        per_round = [y / x for x, y in zip(b, h, strict=True)]
        mb, mh = statistics.median(b), statistics.median(h)
        print(f"| {client} | {mb:.3f} | {mh:.3f} | {size / mb / 1e6:.1f} | "
              f"{size / mh / 1e6:.1f} | {mh / mb:.2f} | {statistics.median(per_round):.2f} "
              f"({min(per_round):.2f}-{max(per_round):.2f}) |")
    print("\nspeed ratio = tftpd-hpa time / bench server time (above 1: the bench server "
          "is faster); tftpd-hpa ignores windowsize, so its window-8 row is one block per ACK.")


if __name__ == "__main__":
    main()
