"""Which TFTP options does the virtual board's U-Boot honour? (tftpblocksize, tftpwindowsize)

    .venv/bin/python benchmarks/probe_uboot_tftp.py [--size-mib 32] [--case 1468:1 ...]

Boots Debian's qemu_arm64 U-Boot in a lab against the bench server, stops
autoboot, runs ``dhcp`` once, then for each BLOCKSIZE:WINDOW case types
``setenv tftpblocksize ..; setenv tftpwindowsize ..; tftp ${kernel_addr_r} big``
and prints what the server negotiated and how long the transfer took (the
server's transfer log), and whether U-Boot got every byte.  A block size
U-Boot cannot use is silently kept at its default (the negotiated blksize
shows it); a window its Ethernet driver cannot absorb ends in timeouts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from waltport.host.netns import Lab
from waltport.lab.target.console import Console
from waltport.lab.virtual.qemu import Board, qemu_argv
from waltport.net.server import BenchServer
from waltport.net.tftp import TransferRecord, read_transfer_log

CASES = ["1468:1", "1468:4", "1468:8", "1468:16", "1468:24", "4096:1", "512:1",
         "1468:32"]  # last: a window the driver cannot absorb stalls U-Boot's network


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=32)
    ap.add_argument("--case", action="append", help="BLOCKSIZE:WINDOW (repeatable)")
    ap.add_argument("--console-log", type=Path, help="keep U-Boot's console log here")
    args = ap.parse_args()
    cases = [tuple(int(x) for x in c.split(":")) for c in (args.case or CASES)]
    lab = Lab(f"wpb-probe-{os.getpid() % 100000}").up()
    rows: list[tuple[tuple[int, ...], str, list[TransferRecord]]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="probe-") as d:
            tmp = Path(d)
            (tmp / "img" / "boot" / "probe").mkdir(parents=True)
            (tmp / "img" / "boot" / "probe" / "big").write_bytes(os.urandom(args.size_mib << 20))
            tap = lab.add_tap("tapprobe0")
            with BenchServer(lab, tmp / "img", state=tmp / "state") as srv:
                argv = lab.exec_argv(qemu_argv(Board(arch="arm64", tap=tap, memory_mb=512)))
                with Console(argv, tmp / "console.log") as con:
                    con.expect(r"Hit any key to stop autoboot", 60, "autoboot")
                    con.send(" ")
                    con.expect(r"^=> $", 30, "prompt")
                    # netretry no: a transfer that runs out of retries fails instead of
                    # starting again forever.
                    con.send("setenv autoload no; setenv netretry no; "
                             "setenv bootp_vci walt.node.probe; dhcp\n")
                    con.expect(r"DHCP client bound", 30, "dhcp")
                    for bs, ws in cases:
                        before = len(read_transfer_log(srv.transfer_log))
                        # The marker is built at run time: the typed line never matches it.
                        con.send(f"setenv tftpblocksize {bs}; setenv tftpwindowsize {ws}; "
                                 "setenv filesize; tftp ${kernel_addr_r} big; setenv m WPX; "
                                 f"echo ${{m}}-DONE {bs}:{ws} ${{filesize}} ${{m}}-END\n")
                        _, line = con.expect(r"^WPX-DONE .* WPX-END$", 180, f"tftp {bs}:{ws}")
                        got = read_transfer_log(srv.transfer_log)[before:]
                        rows.append(((bs, ws), line.strip(), got))
                    con.send("poweroff\n")
                    con.wait(10)
                if args.console_log:
                    args.console_log.write_bytes((tmp / "console.log").read_bytes())
    finally:
        lab.down()
    want = f"{args.size_mib << 20:x}"
    print("| asked blksize:window | negotiated blksize | window | server result, time (s), "
          f"retransmitted blocks | U-Boot got {args.size_mib} MiB |\n|---|---|---|---|---|")
    for (bs, ws), line, got in rows:
        last = got[-1] if got else None
        server = (f"{last.result}, {last.duration:.2f}, {last.retransmits}"
                  + (f" ({len(got)} transfers)" if len(got) > 1 else "")) if last else "none"
        print(f"| {bs}:{ws} | {last.blksize if last else '-'} | "
              f"{last.windowsize if last else '-'} | {server} | "
              f"{'yes' if line.endswith(f' {want} WPX-END') else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
