"""Analysis speed: a 200k-packet capture, waltport's fast path vs ``tshark -T fields``.

    .venv/bin/python benchmarks/bench_analyze.py [--packets 200000]

The capture is synthesised (Ethernet/IPv4/UDP frames written by dpkt): one
DHCP exchange, then TFTP transfers of 1468-byte blocks with their ACKs.
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import dpkt

from waltport.net import dhcp_wire as w
from waltport.net.analysis import analyze_pcap

C, S = bytes([192, 168, 152, 10]), bytes([192, 168, 152, 1])


def frame(src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = 8 + len(payload)
    ip = dpkt.ip.IP(src=src, dst=dst, p=17, data=udp, ttl=64)
    ip.len = 20 + len(udp)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip))


def synthesise(path: Path, packets: int) -> None:
    with open(path, "wb") as f:
        out = dpkt.pcap.Writer(f)
        t = 1_700_000_000.0
        disc = w.encode_dhcp(w.DhcpMessage(op=1, xid=1, chaddr="02:02:02:02:02:02", options=(
            (w.OPT_MSGTYPE, b"\x01"), (w.OPT_VCI, b"walt.node.bench"))))
        out.writepkt(frame(b"\0" * 4, 68, b"\xff" * 4, 67, disc), t)
        n, port, block = 1, 40000, 0
        data = bytes(1468)
        while n < packets:
            if block == 0:
                out.writepkt(frame(C, port, S, 69, b"\0\1kernel\0octet\0blksize\x001468\0"), t)
                block, n = 1, n + 1
                continue
            t += 0.00005
            out.writepkt(frame(S, 50000, C, port, struct.pack("!HH", 3, block & 0xFFFF) + data), t)
            out.writepkt(frame(C, port, S, 50000, struct.pack("!HH", 4, block & 0xFFFF)), t)
            n, block = n + 2, block + 1
            if block > 20000:
                block, port = 0, port + 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=200_000)
    count = ap.parse_args().packets
    with tempfile.TemporaryDirectory() as d:
        pcap = Path(d) / "big.pcap"
        synthesise(pcap, count)
        t = time.monotonic()
        a = analyze_pcap(pcap)
        ours = time.monotonic() - t
        t = time.monotonic()
        subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "udp.srcport",
                        "-e", "udp.dstport", "-e", "tftp.opcode", "-e", "tftp.block",
                        "-e", "dhcp.id"], check=True, capture_output=True)
        shark = time.monotonic() - t
    print(f"| tool | {a.packets} packets, {len(a.tftp)} TFTP transfers (s) |\n|---|---|")
    print(f"| waltport analyze_pcap (dpkt framing + struct) | {ours:.2f} |")
    print(f"| tshark -T fields (5 fields) | {shark:.2f} |")


if __name__ == "__main__":
    main()
