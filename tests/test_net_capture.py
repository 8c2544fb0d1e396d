"""Captures keep every packet of a burst that arrives while tcpdump waits for a CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import dpkt
import pytest
from net_fixtures import lab, needs_root  # noqa: F401

from waltport.host.netns import Lab
from waltport.net.capture import Capture

BURST = 3000     # more than the 512 frames a 32 MiB ring held on a bridge (64 KiB frames)


@pytest.mark.root
@needs_root
def test_a_burst_while_tcpdump_is_stopped_is_kept_whole(lab: Lab, tmp_path: Path) -> None:  # noqa: F811
    pcap = tmp_path / "burst.pcap"
    send = (f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range({BURST}):\n"
            f"    s.sendto(i.to_bytes(4, 'big'), ('{lab.server_ip}', 9))\n")
    # The client side gets an address of its own for the burst (no DHCP here).
    addr = ["ip", "-n", lab.client_netns, "addr", "{}", "192.168.152.250/24", "dev",
            lab.client_interface]
    subprocess.run([a.format("add") for a in addr], check=True)
    try:
        _burst(lab, pcap, send)
    finally:
        subprocess.run([a.format("del") for a in addr], check=True)


def _burst(lab: Lab, pcap: Path, send: str) -> None:  # noqa: F811
    with Capture(lab.netns, lab.bridge, pcap, bpf="udp port 9", grace=0.5) as cap:
        assert cap.pid is not None
        os.kill(cap.pid, signal.SIGSTOP)         # tcpdump gets no CPU during the burst
        try:
            subprocess.run(lab.client_exec_argv(["python3", "-c", send]), check=True,
                           timeout=60)
            time.sleep(0.3)
        finally:
            os.kill(cap.pid, signal.SIGCONT)
    with open(pcap, "rb") as f:
        seen = [bytes(dpkt.ethernet.Ethernet(frame).data.data.data)
                for _, frame in dpkt.pcap.Reader(f)]
    assert seen == [i.to_bytes(4, "big") for i in range(BURST)], cap.summary
