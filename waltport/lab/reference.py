"""The reference peers: ISC dhcpd + tftpd-hpa configured like a WalT server, in the lab.

Used by ``benchmarks/bench_boot.py`` to boot the same boards with the same
image against the daemons WalT itself runs, for a ratio.  Like WalT:

* dhcpd: long leases, ``next-server`` and option 66 = server, PXE ROMs
  (VCI ``PXEClient``, arch 0, no ``walt.node`` user class) get
  ``pxe/walt-x86-undionly.kpxe``, registered nodes have fixed addresses;
* tftpd-hpa ``--secure`` with WalT's map file; ``nodes/<ip>/tftp`` holds the
  node's ``boot/<model>`` files (copies: tftpd chroots, a symlink out of the
  root would not resolve).

Boot notifications go to the bench server's listener, run alone.  Config
rendering is pure; :class:`ReferenceServer` owns the processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from waltport.errors import ToolMissing, WaltportError
from waltport.host.netns import BRIDGE, Lab
from waltport.net.registry import Registry

MAP_FILE = r"""e .*undionly.*
r boot/rpi-.*\.uboot start.uboot
r boot/pc-x86-64.ipxe start.ipxe
r .* nodes/\i/tftp/\0
"""

NOTIFY_SCRIPT = """
import signal, sys, threading
from waltport.net.notify import NotificationListener
from waltport.net.registry import Registry
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
listener = NotificationListener(sys.argv[1], Registry(sys.argv[2]))
listener.start()
print("READY", flush=True)
stop.wait()
listener.stop()
"""


class ReferencePeerError(WaltportError):
    """The reference DHCP/TFTP daemons could not start."""


def node_ip(lab: Lab, index: int) -> str:
    return str(lab.network.network_address + 10 + index)


def dhcpd_conf(lab: Lab, hosts: Sequence[tuple[str, str]]) -> str:
    """A WalT-like dhcpd.conf; ``hosts`` are (mac, fixed ip) of registered nodes."""
    net = lab.network
    last = net.broadcast_address - 1
    lines = [
        "authoritative;",
        "default-lease-time 6000000;",
        "max-lease-time 6000000;",
        "option domain-name \"walt\";",
        "option client-arch code 93 = unsigned integer 16;",
        f"subnet {net.network_address} netmask {net.netmask} {{",
        f"  range {net.network_address + 100} {last};",
        f"  option broadcast-address {net.broadcast_address};",
        f"  option subnet-mask {net.netmask};",
        f"  next-server {lab.server_ip};",
        f"  option tftp-server-name \"{lab.server_ip}\";",
        "  if substring(option vendor-class-identifier, 0, 9) = \"PXEClient\" and",
        "     option client-arch = 00:00 and",
        "     not (substring(option user-class, 0, 9) = \"walt.node\") {",
        "    filename \"pxe/walt-x86-undionly.kpxe\";",
        "  }",
        "}",
    ]
    for i, (mac, ip) in enumerate(hosts):
        lines.append(f"host node{i} {{ hardware ethernet {mac}; fixed-address {ip}; }}")
    return "\n".join(lines) + "\n"


def tftp_layout(root: Path, image_boot: Path, nodes: Sequence[str],
                pxe_first_stage: Path | None) -> None:
    """``root/nodes/<ip>/tftp/`` = copies of the model's boot files; PXE file in ``pxe/``."""
    for ip in nodes:
        dest = root / "nodes" / ip / "tftp"
        dest.mkdir(parents=True, exist_ok=True)
        for f in image_boot.iterdir():
            if f.is_file():
                try:
                    os.link(f.resolve(), dest / f.name)
                except OSError:
                    shutil.copyfile(f, dest / f.name)
    if pxe_first_stage is not None:
        (root / "pxe").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pxe_first_stage, root / "pxe" / "walt-x86-undionly.kpxe")
    for d in [root, *root.rglob("*")]:
        d.chmod(0o755 if d.is_dir() else 0o644)


class ReferenceServer:
    """dhcpd + in.tftpd + the notification listener in the lab's server namespace."""

    def __init__(self, lab: Lab, image_boot: Path, state: Path, *, macs: Sequence[str],
                 pxe_first_stage: Path | None = None) -> None:
        self.lab = lab
        self.state = state
        self.hosts = [(mac, node_ip(lab, i)) for i, mac in enumerate(macs)]
        self.image_boot = image_boot
        self.pxe_first_stage = pxe_first_stage
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def registry(self) -> Registry:
        return Registry(self.state / "registry.sqlite")

    @property
    def transfer_log(self) -> Path:
        # tftpd-hpa keeps no per-transfer log: stages rely on the capture alone.
        return self.state / "no-transfer-log"

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.state / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(self.lab.exec_argv(argv), stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)
        log.close()
        self._procs.append(proc)
        return proc

    def start(self) -> ReferenceServer:
        for prog, pkg in (("dhcpd", "isc-dhcp-server"), ("in.tftpd", "tftpd-hpa")):
            if shutil.which(prog) is None:
                raise ToolMissing(prog, pkg)
        self.state.mkdir(parents=True, exist_ok=True)
        root = self.state / "tftp-root"
        shutil.rmtree(root, ignore_errors=True)
        tftp_layout(root, self.image_boot, [ip for _, ip in self.hosts], self.pxe_first_stage)
        (self.state / "tftpd.map").write_text(MAP_FILE)
        (self.state / "dhcpd.conf").write_text(dhcpd_conf(self.lab, self.hosts))
        (self.state / "dhcpd.leases").write_text("")
        try:
            self._spawn(["dhcpd", "-4", "-f", "-q", "-cf", str(self.state / "dhcpd.conf"),
                         "-lf", str(self.state / "dhcpd.leases"),
                         "-pf", str(self.state / "dhcpd.pid"), BRIDGE], "dhcpd")
            self._spawn(["in.tftpd", "--foreground", "--listen", "--address",
                         f"{self.lab.server_ip}:69", "--user", "root", "--secure",
                         "--map-file", str(self.state / "tftpd.map"), str(root)], "tftpd")
            notify = self._spawn([sys.executable, "-c", NOTIFY_SCRIPT, self.lab.server_ip,
                                  str(self.state / "registry.sqlite")], "notify")
            assert notify.stdout is not None
            if notify.stdout.readline().strip() != b"READY":
                raise ReferencePeerError("notification listener did not start: see "
                                     f"{self.state / 'notify.log'}")
            time.sleep(0.5)   # dhcpd and in.tftpd print nothing when ready
            for proc, name in zip(self._procs, ("dhcpd", "in.tftpd"), strict=False):
                if proc.poll() is not None:
                    raise ReferencePeerError(f"{name} exited: see {self.state}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
