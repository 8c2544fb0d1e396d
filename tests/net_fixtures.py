"""Shared fixtures of the bench-server tests: a lab per module, an image root, real clients."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from waltport.host.netns import Lab
from waltport.net.server import BenchServer
from waltport.net.tftp import TransferRecord, read_transfer_log

MODEL = "testm"
needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="needs root and iproute2")

UDHCPC_SCRIPT = """#!/bin/sh
# Record what udhcpc was given; configure the address on bound.
env | grep -E '^(ip|mask|siaddr|boot_file|serverid|lease|opt[0-9]+|tftp|subnet)=' \
  | sort > "$UDHCPC_OUT.$1"
[ "$1" = bound ] && ip addr flush dev "$interface" && ip addr add "$ip/$mask" dev "$interface"
exit 0
"""


def transfer_records(log: Path, keep: Callable[[TransferRecord], bool] = lambda r: True, *,
                     count: int = 1, until: Callable[[list[TransferRecord]], bool] | None = None,
                     timeout: float = 10.0) -> list[TransferRecord]:
    """The log's records that ``keep`` selects, once there are ``count`` of them
    (or once ``until`` holds for them); what is there when ``timeout`` runs out.

    The server writes a record when it sees the last ACK, which may be just
    after the client has exited: reading the log at once races with it.
    """
    deadline = time.monotonic() + timeout
    while True:
        recs = [r for r in read_transfer_log(log) if keep(r)] if log.exists() else []
        enough = until(recs) if until is not None else len(recs) >= count
        if enough or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)


def make_image_root(root: Path) -> Path:
    """``boot/testm`` with a script, a 1 MiB kernel, an inside symlink and escaping ones."""
    boot = root / "boot" / MODEL
    boot.mkdir(parents=True)
    (boot / "start.uboot").write_bytes(b"echo waltport test script\n" * 20)
    (root / "vmlinuz").write_bytes(os.urandom(1 << 20))
    (boot / "kernel").symlink_to("../../vmlinuz")
    (boot / "escape").symlink_to("/etc/passwd")
    (boot / "escape-rel").symlink_to("../../../../../../etc/hostname")
    return root


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    tag = request.module.__name__.rsplit("_", 1)[-1][:6]
    lab = Lab(f"wpt-{tag}-{os.getpid() % 100000}").up()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_root(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def server(lab: Lab, image_root: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[BenchServer]:
    pxe = tmp_path_factory.mktemp("pxe") / "first.ipxe"
    pxe.write_text("#!ipxe\necho waltport first stage\n")
    with BenchServer(lab, image_root, pxe_first_stage=pxe,
                     state=tmp_path_factory.mktemp("state")) as srv:
        yield srv


def udhcpc(lab: Lab, tmp: Path, *extra: str, iface: str = "eth0") -> dict[str, str]:
    """Run busybox udhcpc once in the client namespace; the env of its ``bound`` call."""
    script = tmp / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    out = tmp / f"udhcpc-{iface}"
    for f in tmp.glob(f"{out.name}.*"):
        f.unlink()
    done = subprocess.run(
        lab.client_exec_argv(["env", f"UDHCPC_OUT={out}", "udhcpc", "-f", "-q", "-n", "-i",
                              iface, "-s", str(script), "-t", "4", "-T", "1", *extra]),
        capture_output=True, text=True, timeout=30, check=False)
    bound = Path(f"{out}.bound")
    assert done.returncode == 0 and bound.exists(), done.stderr
    return dict(line.split("=", 1) for line in bound.read_text().splitlines())


def mac_of(lab: Lab, iface: str = "eth0") -> str:
    return subprocess.run(lab.client_exec_argv(["cat", f"/sys/class/net/{iface}/address"]),
                          capture_output=True, text=True, check=True).stdout.strip()


def set_mac(lab: Lab, mac: str, iface: str = "eth0") -> None:
    """Give the client interface another MAC: a new device for the server."""
    for args in (["down"], ["address", mac], ["up"]):
        subprocess.run(lab.client_exec_argv(["ip", "link", "set", iface, *args]), check=True)


def client_run(lab: Lab, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``argv`` in the lab's client namespace, its output captured."""
    return subprocess.run(lab.client_exec_argv(argv), capture_output=True, text=True,
                          timeout=timeout, check=False)


def fetch_kernel_with_real_clients(lab: Lab, out: Path, *, atftp_window: int = 1) -> None:
    """``kernel`` fetched by tftp-hpa (512-byte blocks), curl, atftp (``atftp_window``
    blocks per ACK) and tftpy (1468-byte blocks) into ``out``/a..d; each must succeed."""
    sip = lab.server_ip
    atftp_opts = ["--option", f"windowsize {atftp_window}"] if atftp_window > 1 else []
    runs = {
        "tftp-hpa": ["tftp", sip, "-m", "binary", "-c", "get", "kernel", str(out / "a")],
        "curl": ["curl", "-sS", "--tftp-blksize", "1468", "-o", str(out / "b"),
                 f"tftp://{sip}//kernel"],
        "atftp": ["atftp", *atftp_opts, "--option", "blksize 1468", "-g", "-r", "/kernel",
                  "-l", str(out / "c"), sip],
        "tftpy": [sys.executable, "-c", "import tftpy; tftpy.TftpClient("
                  f"'{sip}', 69, {{'blksize': 1468, 'tsize': 0}}).download('kernel', "
                  f"'{out / 'd'}')"],
    }
    for name, argv in runs.items():
        done = client_run(lab, argv)
        assert done.returncode == 0, f"{name}: {done.stderr}"
