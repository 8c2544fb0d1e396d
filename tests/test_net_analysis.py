"""Captures and their analysis: a real capture in a lab, cross-checked against tshark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from net_fixtures import MODEL, image_root, lab, needs_root, server, udhcpc  # noqa: F401

from waltport.host.netns import Lab
from waltport.net import plots
from waltport.net.analysis import analyze, analyze_pcap
from waltport.net.capture import Capture
from waltport.net.pcap import UdpRecord
from waltport.net.server import BenchServer


def test_incomplete_transfer_is_not_a_pass() -> None:
    """RRQ start.uboot, one full 512-byte block, then silence: not fully transferred."""
    c, s = "192.168.152.10", "192.168.152.1"
    recs = [UdpRecord(1, 0.0, c, 5000, s, 69, b"\x00\x01start.uboot\x00octet\x00"),
            UdpRecord(2, 0.1, s, 6000, c, 5000, b"\x00\x03\x00\x01" + bytes(512)),
            UdpRecord(3, 0.2, c, 5000, s, 6000, b"\x00\x04\x00\x01"),
            UdpRecord(4, 1.2, s, 6000, c, 5000, b"\x00\x03\x00\x01" + bytes(512))]
    a = analyze(recs, 4, MODEL)
    (x,) = a.tftp
    assert (x.bytes, x.blocks, x.retransmissions, x.complete) == (512, 1, 1, False)
    assert {v.name: v.ok for v in a.verdicts} == {"dhcp-identifier": False,
                                                   "first-stage-script": False}


def _tshark(pcap: Path, filt: str, *fields: str) -> list[list[str]]:
    argv = ["tshark", "-r", str(pcap), "-Y", filt, "-T", "fields", "-E", "separator=|"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
    return [line.split("|") for line in out.splitlines()]


@pytest.mark.root
@needs_root
def test_capture_analyze_crosscheck(lab: Lab, server: BenchServer, tmp_path: Path) -> None:  # noqa: F811
    pcap = tmp_path / "boot.pcap"
    with Capture(lab.netns, lab.bridge, pcap):
        lease = udhcpc(lab, tmp_path, "-V", f"walt.node.{MODEL}")
        for argv in (["tftp", lab.server_ip, "-m", "binary", "-c", "get", "start.uboot",
                      str(tmp_path / "s")],
                     ["curl", "-sS", "--tftp-blksize", "1468", "-o", str(tmp_path / "k"),
                      f"tftp://{lab.server_ip}/kernel"],
                     ["bash", "-c", f"printf 'WALTPORT-BOOTED model={MODEL} "
                      f"mac=02:00:00:00:00:99 ip={lease['ip']}\\n' "
                      f"> /dev/udp/{lab.server_ip}/7557"]):
            subprocess.run(lab.client_exec_argv(argv), check=True, timeout=60)
    assert pcap.exists() and not (tmp_path / ".boot.pcap.partial").exists()
    a = analyze_pcap(pcap, MODEL)
    assert all(v.ok for v in a.verdicts), a.verdicts
    assert [v.name for v in a.verdicts] == ["dhcp-identifier", "first-stage-script",
                                            "boot-notification"]
    # DHCP fields against tshark.
    ts = _tshark(pcap, "dhcp", "dhcp.id", "dhcp.option.dhcp", "dhcp.option.vendor_class_id",
                 "dhcp.ip.your", "dhcp.ip.server")
    ours = [(f"0x{m.xid:08x}", m, ) for t in a.dhcp for m in t.messages]
    assert len(ts) == len(ours)
    types = {"1": "DISCOVER", "2": "OFFER", "3": "REQUEST", "5": "ACK"}
    for (xid, m), (t_xid, t_type, t_vci, t_yi, t_si) in zip(
            sorted(ours, key=lambda p: p[1].index), ts, strict=True):
        assert (xid, m.type, m.vci or "", m.yiaddr, m.siaddr) == (
            t_xid, types[t_type], t_vci, t_yi, t_si)
    # TFTP transfers against tshark: requested files, data bytes per transfer.
    rrqs = [r[0] for r in _tshark(pcap, "tftp.opcode == 1", "tftp.source_file")]
    assert rrqs == [x.file for x in a.tftp] == ["start.uboot", "kernel"]
    for x in a.tftp:
        sizes = _tshark(pcap, f"tftp.opcode == 3 && udp.dstport == {x.port}", "udp.length")
        assert x.bytes == sum(int(s[0]) - 12 for s in sizes)
        assert x.blocks == len(sizes) and x.complete
    assert a.tftp[1].blksize == 1468
    js = a.to_json()
    assert {p["name"].split()[0] for p in js["phases"]} >= {"dhcp", "tftp", "until"}
    # Plots: same analysis -> same bytes.
    for fn in (plots.ladder, plots.transfer_timeline):
        one = fn(a, tmp_path / f"{fn.__name__}1.svg").read_bytes()
        two = fn(a, tmp_path / f"{fn.__name__}2.svg").read_bytes()
        assert one == two and b"<svg" in one
    assert plots.ladder(a, tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    # The CLI on the same capture: verdicts pass, exit 0.
    done = subprocess.run([sys.executable, "-m", "waltport.cli", "analyze", str(pcap),
                           "--model", MODEL], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "[PASS] first-stage-script" in done.stdout
