"""The lease pool (issue 14, item 5) and who is a node (item 6): an OFFER binds nothing,
unconfirmed offers expire, unregistered devices give their address back when the pool is
short, registered nodes keep theirs; then a real flood against the bench server, and a
real udhcpc after it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_fixtures import make_image_root, needs_root, set_mac, udhcpc

from waltport.host.netns import Lab
from waltport.net.registry import OFFER_TTL, Registry, classify
from waltport.net.serve import make_resolver
from waltport.net.server import BenchServer
from waltport.net.tftp_map import TftpRefused

POOL = ("10.0.0.10", "10.0.0.11", "10.0.0.12")
T0 = 1_000_000.0


def _mac(i: int) -> str:
    return f"02:aa:00:00:{i >> 8:02x}:{i & 0xff:02x}"


def test_offers_bind_nothing_and_expire(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    a = reg.offer(_mac(1), POOL, now=T0)
    assert a == POOL[0] and reg.offer(_mac(1), POOL, now=T0 + 1) == a   # stable while pending
    assert reg.lease_of(_mac(1)) is None
    assert reg.offer(_mac(2), POOL, now=T0) == POOL[1]
    # Unconfirmed past the TTL: the address is free for the next client.
    assert reg.offer(_mac(3), POOL, wanted=POOL[0], now=T0 + OFFER_TTL + 1) == POOL[0]


def test_a_flood_never_starves_a_node_or_takes_its_address(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    node = _mac(0)
    ip = reg.offer(node, POOL, now=T0)
    assert ip is not None
    reg.commit(node, ip, "walt.node.testm", None, now=T0)
    unknown = _mac(1)
    uip = reg.offer(unknown, POOL, now=T0)
    assert uip is not None
    reg.commit(unknown, uip, None, None, now=T0)
    for i in range(2, 262):                               # 260 made-up MACs
        got = reg.offer(_mac(i), POOL, now=T0 + 1)
        assert got is not None and got != ip
    assert reg.lease_of(node) == ip
    # A real client after the flood gets an offer, and its REQUEST commits a lease.
    late = _mac(999)
    got = reg.offer(late, POOL, now=T0 + 2)
    assert got is not None and got != ip
    reg.commit(late, got, "walt.node.testm", None, now=T0 + 2)
    assert reg.lease_of(late) == got and reg.lease_of(node) == ip
    assert reg.lease_of(unknown) == uip
    # The pool is short and no offer is pending: the unregistered device's lease goes
    # back, the nodes' do not.
    assert reg.offer(_mac(1000), POOL, now=T0 + 3) == uip
    assert reg.lease_of(unknown) is None
    assert {reg.lease_of(node), reg.lease_of(late)} == {ip, got}
    # Only registered nodes left and no offer to take over: nothing to give.
    reg.commit(_mac(1000), uip, "walt.node.testm", None, now=T0 + 3)
    assert reg.offer(_mac(1001), POOL, now=T0 + 4 + OFFER_TTL) is None


@pytest.mark.parametrize("ident", ["walt.node...", "walt.node.../../outside", "walt.node..",
                                   "walt.node.a/b", "walt.node.rpi\n", "walt.node.Rpi",
                                   "walt.node.x--y"])
def test_only_walt_alphabet_models_are_registered(tmp_path: Path, ident: str) -> None:
    """Issue 14 item 6: any string after walt.node. became a model, and model '..'
    served <image-root>/X."""
    assert classify(ident, None) == ("unknown", None)
    assert classify(None, ident) == ("unknown", None)
    reg = Registry(tmp_path / "r.sqlite")
    reg.commit(_mac(1), POOL[0], ident, None)
    (dev,) = reg.devices()
    assert (dev.type, dev.model) == ("unknown", None)
    assert reg.node_for(POOL[0]) is None
    assert classify("walt.node.rpi-3-b", None) == ("node", "rpi-3-b")


def test_a_bad_model_in_an_old_registry_serves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "image"
    (root / "boot").mkdir(parents=True)
    (root / "secret").write_text("outside boot/")
    reg = Registry(tmp_path / "r.sqlite")
    reg.commit(_mac(1), POOL[0], "walt.node.good", None)
    with sqlite3.connect(reg.path) as db:      # as an older server stored it
        db.execute("UPDATE devices SET model = '..'")
    resolve = make_resolver(reg, root, None)
    with pytest.raises(TftpRefused, match="no node registered"):
        resolve("secret", POOL[0])


FLOOD = """
import os, socket, sys, time
from waltport.net import dhcp_wire as w
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, 25, b"eth0")
for i in range(int(sys.argv[1])):
    mac = ":".join(f"{b:02x}" for b in bytes([2]) + os.urandom(5))
    msg = w.DhcpMessage(op=1, xid=i, chaddr=mac, flags=0x8000,
                        options=((w.OPT_MSGTYPE, bytes((w.DISCOVER,))),))
    s.sendto(w.encode_dhcp(msg), ("255.255.255.255", 67))
    time.sleep(0.003)  # paced so that the server's socket buffer drops none
"""


@pytest.fixture(scope="module")
def flood_lab() -> Iterator[Lab]:
    lab = Lab(f"hdn-pool-{os.getpid() % 100000}").up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.mark.root
@needs_root
def test_real_flood_then_real_udhcpc_gets_its_lease(flood_lab: Lab, tmp_path: Path) -> None:
    state = tmp_path / "state"
    root = make_image_root(tmp_path / "image")
    with BenchServer(flood_lab, root, state=state) as srv:
        done = subprocess.run(flood_lab.client_exec_argv([sys.executable, "-c", FLOOD, "260"]),
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        set_mac(flood_lab, "02:00:00:00:14:05")
        got = udhcpc(flood_lab, tmp_path, "-V", "walt.node.testm")
        assert got["ip"].startswith(flood_lab.server_ip.rsplit(".", 1)[0] + ".")
        (dev,) = [d for d in srv.registry.devices() if d.mac == "02:00:00:00:14:05"]
        assert (dev.type, dev.model, dev.ip) == ("node", "testm", got["ip"])
        # The flood bound nothing: the only lease is the real client's.
        assert srv.registry.lease_of("02:00:00:00:14:05") == got["ip"]
        assert len(srv.registry.devices()) == 1
    log = (state / "server.log").read_text()
    assert log.count("DISCOVER") >= 255, "the flood did not reach the server"
    assert "Traceback" not in log and "unexpected failure" not in log
