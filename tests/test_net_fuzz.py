"""Robustness: >= 10k malformed DHCP/TFTP datagrams, then valid clients are still served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from net_fixtures import MODEL, image_root, lab, needs_root, server, udhcpc  # noqa: F401

from waltport.host.netns import Lab
from waltport.net.server import BenchServer

pytestmark = [pytest.mark.root, needs_root]

# Runs inside the client namespace: scapy-fuzzed packets plus seeded mutations of
# valid ones, sent in bulk from plain UDP sockets (broadcast to 67, unicast to 69).
FUZZER = r"""
import random, socket, sys, time
from scapy.all import BOOTP, DHCP, TFTP, TFTP_RRQ, TFTP_Options, TFTP_Option, fuzz, raw
server, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(1234)
valid_dhcp = raw(BOOTP(chaddr=b"\x02\x00\x00\x00\x00\x42", xid=7) / DHCP(options=[
    ("message-type", "discover"), ("vendor_class_id", b"walt.node.testm"), "end"]))
valid_rrq = raw(TFTP() / TFTP_RRQ(filename=b"start.uboot", mode=b"octet") / TFTP_Options(
    options=[TFTP_Option(oname=b"blksize", value=b"1468")]))

def mutate(data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        k = rng.random()
        if k < 0.5 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif k < 0.8:
            b = b[:rng.randrange(len(b) + 1)]
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    return bytes(b)

packets = []
for i in range(count):
    kind = i % 4
    if kind == 0:
        packets.append((67, raw(fuzz(BOOTP() / DHCP()))))
    elif kind == 1:
        packets.append((67, mutate(valid_dhcp)))
    elif kind == 2:
        packets.append((69, raw(fuzz(TFTP()))[:rng.randint(0, 600)]))
    else:
        packets.append((69, mutate(valid_rrq)))
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
d.setsockopt(socket.SOL_SOCKET, 25, b"eth0")
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i, (port, data) in enumerate(packets):
    if port == 67:
        d.sendto(data, ("255.255.255.255", 67))
    else:
        t.sendto(data, (server, 69))
    if i % 200 == 199:
        time.sleep(0.01)  # let the server drain its socket buffers
print(len(packets))
"""


def test_fuzz_then_still_serving(lab: Lab, server: BenchServer, tmp_path: Path,  # noqa: F811
                                 image_root: Path) -> None:  # noqa: F811
    udhcpc(lab, tmp_path, "-V", f"walt.node.{MODEL}")
    done = subprocess.run(lab.client_exec_argv([sys.executable, "-c", FUZZER, lab.server_ip,
                                                "10000"]),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-800:]
    assert int(done.stdout.split()[-1]) == 10000
    assert server.running
    # Valid peers afterwards: a new DHCP client and a TFTP download.
    lease = udhcpc(lab, tmp_path, "-V", f"walt.node.{MODEL}")
    assert lease["siaddr"] == lab.server_ip
    out = tmp_path / "kernel"
    got = subprocess.run(lab.client_exec_argv(["tftp", lab.server_ip, "-m", "binary", "-c",
                                               "get", "kernel", str(out)]),
                         capture_output=True, text=True, timeout=60, check=False)
    assert got.returncode == 0 and out.read_bytes() == (image_root / "vmlinuz").read_bytes()
    log = server.log_path.read_text()
    assert "dropped" in log and "Traceback" not in log
