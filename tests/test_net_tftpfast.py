"""The C lock-step TFTP loop (waltport/net/_tftpfast.c) and the Python loop, real clients.

Each test runs twice in a lab: against a bench server whose one-block-per-ACK
transfers run in C, and against one started with WALTPORT_TFTP_PURE=1 (the
Python loop, what a machine without a C compiler gets).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_fixtures import (  # noqa: F401
    MODEL,
    client_run,
    fetch_kernel_with_real_clients,
    image_root,
    lab,
    needs_root,
    transfer_records,
    udhcpc,
)

from waltport.host.netns import Lab
from waltport.net.server import BenchServer
from waltport.net.tftp_session import PURE_ENV

pytestmark = [pytest.mark.root, needs_root]


@pytest.fixture(scope="module", params=["C", "Python"])
def served(request: pytest.FixtureRequest, lab: Lab, image_root: Path,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BenchServer, str]]:
    """A bench server with the given loop, and the client's leased address."""
    mp = pytest.MonkeyPatch()
    if request.param == "Python":
        mp.setenv(PURE_ENV, "1")
    else:
        mp.delenv(PURE_ENV, raising=False)
    try:
        with BenchServer(lab, image_root, state=tmp_path_factory.mktemp("state")) as srv:
            loop = str(srv.info["tftp_lockstep"])
            assert loop == "C" if request.param == "C" else loop.startswith("Python ("), loop
            ip = udhcpc(lab, tmp_path_factory.mktemp("dhcp"), "-V", f"walt.node.{MODEL}")["ip"]
            yield srv, ip
    finally:
        mp.undo()



def test_lockstep_clients_byte_exact(lab: Lab, served: tuple[BenchServer, str],  # noqa: F811
                                     image_root: Path, tmp_path: Path) -> None:  # noqa: F811
    srv, ip = served
    want = (image_root / "vmlinuz").read_bytes()
    fetch_kernel_with_real_clients(lab, tmp_path)
    for out in "abcd":
        assert (tmp_path / out).read_bytes() == want, out
    recs = transfer_records(srv.transfer_log, lambda r: r.client == ip and r.result == "ok",
                            count=4)
    assert sorted(r.blksize for r in recs) == [512, 1468, 1468, 1468]
    assert all((r.windowsize, r.bytes, r.retransmits) == (1, len(want), 0) for r in recs)


def test_block_number_wraps_one_block_per_ack(lab: Lab, served: tuple[BenchServer, str],  # noqa: F811
                                              image_root: Path, tmp_path: Path) -> None:  # noqa: F811
    """600 KiB in 8-byte blocks, one per ACK: 76800 blocks and an empty one, past 65535."""
    srv, ip = served
    payload = bytes(range(256)) * 2400
    (image_root / "boot" / MODEL / "wrap1.bin").write_bytes(payload)
    done = client_run(lab, ["atftp", "--option", "blksize 8", "-g", "-r", "wrap1.bin", "-l",
                         str(tmp_path / "w"), lab.server_ip])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "w").read_bytes() == payload
    rec = transfer_records(srv.transfer_log, lambda r: r.client == ip and r.blksize == 8)[-1]
    assert (rec.result, rec.blocks, rec.windowsize) == ("ok", 76801, 1)


def test_a_killed_client_ends_its_transfer_and_the_server_goes_on(
        lab: Lab, served: tuple[BenchServer, str], image_root: Path,  # noqa: F811
        tmp_path: Path) -> None:
    """atftp killed mid-transfer (4 MiB in 8-byte blocks, over half a million round
    trips): its port closes, the next DATA meets ICMP port unreachable."""
    srv, ip = served
    (image_root / "boot" / MODEL / "long.bin").write_bytes(os.urandom(4 << 20))
    proc = subprocess.Popen(lab.client_exec_argv(
        ["atftp", "--option", "blksize 8", "-g", "-r", "long.bin", "-l", str(tmp_path / "l"),
         lab.server_ip]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not (tmp_path / "l").exists()
                                               or (tmp_path / "l").stat().st_size < 8192):
            time.sleep(0.02)
        assert proc.poll() is None, "the transfer ended before the client could be killed"
    finally:
        # atftp runs under `ip netns exec`, which execs it: this pid is atftp's.
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rec = transfer_records(srv.transfer_log,
                           lambda r: r.client == ip and r.requested == "long.bin")[-1]
    assert (rec.result, rec.bytes) == ("error", 0), rec
    assert "refused" in (rec.error or "").lower(), rec
    done = client_run(lab, ["tftp", lab.server_ip, "-m", "binary", "-c", "get", "kernel",
                         str(tmp_path / "after")])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "after").read_bytes() == (image_root / "vmlinuz").read_bytes()
