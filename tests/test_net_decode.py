"""scapy's full decoding, cross-checked with the fast path on the same capture."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.tftp import TFTP, TFTP_RRQ
from scapy.utils import wrpcap

from waltport.cli import main
from waltport.net.analysis import analyze_pcap
from waltport.net.decode import DecodeError, decode_pcap

MAC = "52:54:00:12:34:56"


def _capture(path: Path) -> None:
    """A DISCOVER with VCI, a REQUEST with a user class (option 77), a TFTP RRQ."""
    raw_mac = bytes.fromhex(MAC.replace(":", ""))
    base = Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") \
        / UDP(sport=68, dport=67)
    discover = base / BOOTP(chaddr=raw_mac, xid=0x1234) / DHCP(options=[
        ("message-type", "discover"), ("vendor_class_id", b"walt.node.qemu-arm64"), "end"])
    request = base / BOOTP(chaddr=raw_mac, xid=0x1234) / DHCP(options=[
        ("message-type", "request"), ("user_class", b"walt.node.pc-x86-64"),
        ("requested_addr", "192.168.152.10"), "end"])
    rrq = Ether(src=MAC) / IP(src="192.168.152.10", dst="192.168.152.1") \
        / UDP(sport=2000, dport=69) / TFTP() / TFTP_RRQ(filename=b"start.uboot", mode=b"octet")
    for i, p in enumerate((discover, request, rrq)):
        p.time = 1000.0 + i
    wrpcap(str(path), [discover, request, rrq])


def test_full_decode_and_fast_path_agree(tmp_path: Path) -> None:
    pcap = tmp_path / "c.pcap"
    _capture(pcap)
    decoded = decode_pcap(pcap)
    assert [d.protocol for d in decoded] == ["dhcp", "dhcp", "tftp"]
    assert decoded[0].fields["vendor_class_id"] == "walt.node.qemu-arm64"
    assert decoded[1].fields["user_class"] == "walt.node.pc-x86-64"
    assert decoded[2].fields["filename"] == "start.uboot"
    fast = analyze_pcap(pcap)
    assert len(fast.dhcp) == 1
    t = fast.dhcp[0]
    assert f"0x{t.xid:08x}" == decoded[0].fields["xid"]
    assert t.messages[0].vci == decoded[0].fields["vendor_class_id"]
    assert t.messages[1].uci == decoded[1].fields["user_class"]
    assert [x.file for x in fast.tftp] == ["start.uboot"]


def test_limit_and_unreadable(tmp_path: Path) -> None:
    pcap = tmp_path / "c.pcap"
    _capture(pcap)
    assert len(decode_pcap(pcap, limit=1)) == 1
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture")
    with pytest.raises(DecodeError, match="cannot read capture"):
        decode_pcap(bad)


def test_cli_full(tmp_path: Path, capsys) -> None:
    pcap = tmp_path / "c.pcap"
    _capture(pcap)
    main(["analyze", str(pcap), "--full"])
    out = capsys.readouterr().out
    assert "DHCP Discover" in out and "vendor_class_id=walt.node.qemu-arm64" in out
