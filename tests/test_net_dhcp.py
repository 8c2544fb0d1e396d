"""DHCP: the wire codec and WalT's policy as values, then real udhcpc peers in a lab."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from net_fixtures import image_root, lab, mac_of, needs_root, server, set_mac, udhcpc  # noqa: F401

from waltport.host.netns import Lab
from waltport.net import dhcp_policy as pol
from waltport.net import dhcp_wire as w
from waltport.net.guard import InterfaceFacts, refusal_reasons
from waltport.net.registry import classify
from waltport.net.server import BenchServer

CFG = pol.DhcpConfig.for_network("192.168.152.0/24", "192.168.152.1")
PXE_VCI = b"PXEClient:Arch:00000:UNDI:002001"


def request(mtype: int, *opts: tuple[int, bytes], mac: str = "52:54:00:12:34:57") -> w.DhcpMessage:
    return w.DhcpMessage(op=1, xid=0x1234, chaddr=mac,
                         options=((w.OPT_MSGTYPE, bytes((mtype,))), *opts))


def test_codec_round_trip_and_errors() -> None:
    msg = request(w.DISCOVER, (w.OPT_VCI, b"walt.node.rpi-3-b"), (w.OPT_PARAMS, bytes([1, 3])))
    raw = w.encode_dhcp(msg)
    assert len(raw) == 300 and w.parse_dhcp(raw) == msg
    assert w.parse_dhcp(raw).vci == "walt.node.rpi-3-b" and w.parse_dhcp(raw).params == (1, 3)
    with pytest.raises(w.DhcpParseError, match="header"):
        w.parse_dhcp(raw[:100])
    with pytest.raises(w.DhcpParseError, match="magic cookie"):
        w.parse_dhcp(raw[:236] + b"\0\0\0\0" + raw[240:])
    # option 60 claims 200 bytes where 17 are left
    truncated = raw[:240] + bytes((60, 200)) + b"walt.node.x"
    with pytest.raises(w.DhcpParseError, match="option 60"):
        w.parse_dhcp(truncated)


def test_user_class_forms() -> None:
    assert w.decode_user_class(b"\x0fwalt.node.pc-64") == "walt.node.pc-64"  # RFC 3004 (iPXE)
    assert w.decode_user_class(b"walt.node.pc-64") == "walt.node.pc-64"  # raw (udhcpc -x)


def test_walt_rule() -> None:
    assert classify("walt.node.a", "walt.node.b") == ("node", "b")  # user class first
    assert classify("walt.node.a", None) == ("node", "a")
    assert classify("PXEClient:Arch:00000:UNDI:002001", None) == ("unknown", None)


def test_policy_pxe_rom_gets_first_stage_ipxe_gets_175() -> None:
    rom = request(w.DISCOVER, (w.OPT_VCI, PXE_VCI), (w.OPT_ARCH, b"\0\0"),
                  (w.OPT_IPXE, b"\xb1\x05"))
    d = pol.decide(rom, CFG, "192.168.152.10")
    assert d.action == "offer" and d.reply is not None
    assert d.reply.file == "pxe/walt-x86-undionly.kpxe" and d.reply.siaddr == "192.168.152.1"
    assert d.reply.opt(w.OPT_IPXE) == b"\xb0\x01\x01"
    assert d.reply.opt(w.OPT_TFTP_SERVER) == b"192.168.152.1"
    assert d.reply.opt(w.OPT_VCI) is None  # never echoed (U-Boot warns)
    chained = request(w.DISCOVER, (w.OPT_VCI, PXE_VCI), (w.OPT_ARCH, b"\0\0"),
                      (w.OPT_UCI, b"\x0fwalt.node.pc-64"))
    assert pol.decide(chained, CFG, "192.168.152.10").reply.file == ""  # type: ignore[union-attr]
    rpi = request(w.DISCOVER, (w.OPT_VCI, PXE_VCI), mac="b8:27:eb:00:00:01")
    reply = pol.decide(rpi, CFG, "192.168.152.11").reply
    assert reply is not None and reply.opt(w.OPT_VCI) == b"PXEClient"
    assert b"Raspberry Pi Boot" in (reply.opt(w.OPT_VENDOR) or b"")


def test_policy_request_ack_nak_ignore() -> None:
    ours = (w.OPT_SERVER_ID, bytes([192, 168, 152, 1]))
    good = request(w.REQUEST, ours, (w.OPT_REQ_IP, bytes([192, 168, 152, 10])))
    d = pol.decide(good, CFG, "192.168.152.10")
    assert (d.action, d.commit, d.ip) == ("ack", True, "192.168.152.10")
    assert d.reply is not None and d.reply.opt(w.OPT_LEASE) == (6_000_000).to_bytes(4, "big")
    wrong = request(w.REQUEST, ours, (w.OPT_REQ_IP, bytes([192, 168, 152, 99])))
    assert pol.decide(wrong, CFG, "192.168.152.10").action == "nak"
    other = request(w.REQUEST, (w.OPT_SERVER_ID, bytes([10, 0, 0, 1])))
    assert pol.decide(other, CFG, "192.168.152.10").action == "ignore"
    assert pol.decide(request(w.RELEASE), CFG, "192.168.152.10").action == "ignore"


def test_guard_reasons() -> None:
    ok = InterfaceFacts("br0", True, "walt-lab", False, ("192.168.152.1/24",))
    assert refusal_reasons(ok, isolated_ack=False) == []
    bad = InterfaceFacts("eth0", True, None, True, ("193.50.0.2/24",))
    reasons = " ".join(refusal_reasons(bad, isolated_ack=False))
    assert "not inside a network namespace" in reasons and "default route" in reasons
    assert "non-private" in reasons
    assert refusal_reasons(bad, isolated_ack=True) == []


@pytest.mark.root
@needs_root
def test_server_refuses_host_interface(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "waltport.net.serve", "--interface", "lo",
                           "--image-root", str(tmp_path), "--state", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 4
    assert "refusing to serve DHCP" in done.stderr and "not inside" in done.stderr
    assert not (tmp_path / "s" / "registry.sqlite").exists()


@pytest.mark.root
@needs_root
def test_udhcpc_registration_flow(lab: Lab, server: BenchServer, tmp_path: Path) -> None:  # noqa: F811
    set_mac(lab, "02:00:00:00:00:01")
    plain = udhcpc(lab, tmp_path)
    assert plain["siaddr"] == lab.server_ip and plain["tftp"] == lab.server_ip
    assert plain["lease"] == "6000000" and "boot_file" not in plain
    (dev,) = [d for d in server.registry.devices() if d.mac == "02:00:00:00:00:01"]
    assert (dev.type, dev.model, dev.ip) == ("unknown", None, plain["ip"])
    node = udhcpc(lab, tmp_path, "-V", "walt.node.testm", "-O", "175", "-x", "175:b10501")
    assert node["ip"] == plain["ip"]  # stable per MAC
    assert node["opt175"] == "b00101"
    kinds = [e.kind for e in server.registry.events("02:00:00:00:00:01")]
    assert kinds == ["dhcp-commit", "registered", "dhcp-commit", "dhcp-commit", "became-node"][
        :len(kinds)] or kinds.count("became-node") == 1
    (dev,) = [d for d in server.registry.devices() if d.mac == "02:00:00:00:00:01"]
    assert (dev.type, dev.model) == ("node", "testm")


@pytest.mark.root
@needs_root
def test_udhcpc_user_class_and_pxe(lab: Lab, server: BenchServer, tmp_path: Path) -> None:  # noqa: F811
    set_mac(lab, "02:00:00:00:00:02")
    got = udhcpc(lab, tmp_path, "-V", "walt.node.other", "-x",
                 "77:" + b"walt.node.testm".hex())
    (dev,) = [d for d in server.registry.devices() if d.mac == "02:00:00:00:00:02"]
    assert (dev.type, dev.model, dev.uci, dev.ip) == ("node", "testm", "walt.node.testm", got["ip"])
    set_mac(lab, "02:00:00:00:00:03")
    rom = udhcpc(lab, tmp_path, "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "93:0000")
    assert rom["boot_file"] == "pxe/walt-x86-undionly.kpxe"


@pytest.mark.root
@needs_root
def test_router_advertisement_answer(lab: Lab, server: BenchServer) -> None:  # noqa: F811
    from scapy.layers.inet6 import ICMPv6ND_RS, IPv6  # noqa: PLC0415
    from scapy.layers.l2 import Ether  # noqa: PLC0415

    rs = bytes(Ether(src="02:00:00:00:00:0a", dst="33:33:00:00:00:02")
               / IPv6(src="fe80::1", dst="ff02::2", hlim=255) / ICMPv6ND_RS())
    # A raw socket in the client namespace sends the RS and waits for the RA (type 134).
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))\n"
        "s.bind(('eth0', 0x86dd)); s.settimeout(5)\n"
        f"s.send(bytes.fromhex('{rs.hex()}'))\n"
        "while True:\n"
        "    f = s.recv(2048)\n"
        "    if f[20] == 58 and f[54] == 134:\n"
        "        print(f[0:6].hex(':'), int.from_bytes(f[60:62], 'big')); break\n")
    done = subprocess.run(lab.client_exec_argv([sys.executable, "-c", code]),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-600:]
    dst, lifetime = done.stdout.split()
    assert dst == "33:33:00:00:00:01" and lifetime == "0"


@pytest.mark.root
@needs_root
def test_boot_notification(lab: Lab, server: BenchServer, tmp_path: Path) -> None:  # noqa: F811
    udhcpc(lab, tmp_path)
    mac = mac_of(lab)
    for line in ("garbage from nowhere\n", f"WALTPORT-BOOTED model=testm mac={mac} ip=1.2.3\n",
                 f"WALTPORT-BOOTED model=testm mac={mac} ip=192.168.152.77\n"):
        subprocess.run(lab.client_exec_argv(
            ["bash", "-c", f"printf '{line}' > /dev/udp/{lab.server_ip}/7557"]),
            check=False, timeout=10, capture_output=True)
    for _ in range(50):
        booted = [e for e in server.registry.events() if e.kind == "booted"]
        if booted:
            break
        time.sleep(0.1)
    assert [(e.model, e.mac, e.ip) for e in booted] == [("testm", mac, "192.168.152.77")]
    assert "ignored datagram" in server.log_path.read_text()
