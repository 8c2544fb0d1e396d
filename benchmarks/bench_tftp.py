"""TFTP throughput in a lab: bench server vs tftpd-hpa, same clients, 64 MiB file.

    .venv/bin/python benchmarks/bench_tftp.py [--size-mib 64]

Prints one Markdown table row per (server, client) pair: seconds and MB/s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from net_fixtures import udhcpc

from waltport.lab.netns import Lab
from waltport.net.server import BenchServer

CLIENTS = {
    "tftp-hpa (512)": lambda ip, f, out: ["tftp", ip, "-m", "binary", "-c", "get", f, out],
    "curl blksize 1468": lambda ip, f, out: ["curl", "-sS", "--tftp-blksize", "1468", "-o", out,
                                             f"tftp://{ip}/{f}"],
    "atftp blksize 1468 window 8": lambda ip, f, out: [
        "atftp", "--option", "blksize 1468", "--option", "windowsize 8", "-g", "-r", f, "-l",
        out, ip],
}


def fetch(lab: Lab, argv: list[str], out: Path, want: int) -> float:
    t = time.monotonic()
    subprocess.run(lab.client_exec_argv(argv), check=True, capture_output=True, timeout=600)
    dt = time.monotonic() - t
    assert out.stat().st_size == want, f"{argv[0]}: short file"
    out.unlink()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=64)
    size = ap.parse_args().size_mib << 20
    lab = Lab(f"wpb-tftp-{os.getpid() % 100000}").up()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        img = tmp / "img" / "boot" / "bench"
        img.mkdir(parents=True)
        (img / "big.bin").write_bytes(os.urandom(size))
        rows = []
        try:
            with BenchServer(lab, tmp / "img", state=tmp / "state"):
                udhcpc(lab, tmp, "-V", "walt.node.bench")
                for name, mk in CLIENTS.items():
                    dt = fetch(lab, mk(lab.server_ip, "big.bin", str(tmp / "o")), tmp / "o", size)
                    rows.append(("bench server", name, dt))
            hpa = subprocess.Popen(lab.exec_argv(["in.tftpd", "--foreground", "--listen",
                                                  "--address", f"{lab.server_ip}:69",
                                                  "--secure", str(img)]))
            time.sleep(0.5)
            try:
                for name, mk in CLIENTS.items():
                    dt = fetch(lab, mk(lab.server_ip, "big.bin", str(tmp / "o")), tmp / "o", size)
                    rows.append(("tftpd-hpa", name, dt))
            finally:
                hpa.terminate()
                hpa.wait()
        finally:
            lab.down()
    print(f"| server | client | {size >> 20} MiB time (s) | MB/s |\n|---|---|---|---|")
    for server, client, dt in rows:
        print(f"| {server} | {client} | {dt:.2f} | {size / dt / 1e6:.1f} |")


if __name__ == "__main__":
    main()
