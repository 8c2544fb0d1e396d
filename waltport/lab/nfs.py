"""The lab's NFS server: the image root as the node's WalT root, read-only, NFSv3.

A WalT server exports each node's root at ``/var/lib/walt/nodes/<ip>/fs``
(the second stage's ``nfsroot=``).  The lab cannot use the kernel's nfsd here
(the host kernel has none), so it runs Debian's userspace server
``nfs-ganesha`` (VFS backend) inside the lab server namespace, with
``rpcbind`` beside it (ganesha registers its programs there; the node's
kernel asks it for the MOUNT and NFS ports).  Both run in a private mount
namespace with a tmpfs on ``/run``, so their sockets and pid files never
meet a host rpcbind.

``Mount_Path_Pseudo`` makes NFSv3 clients mount the *pseudo* path, so the
export is served under WalT's path without touching ``/var/lib/walt`` on the
host.  Per node: ``.../<ip>/fs`` is the image root and ``.../<ip>/lab`` a
small per-run directory (the lab's SSH public key): a WalT server writes its
key into the node's fs, which a read-only export of an image cannot do.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol

from waltport.errors import ToolMissing, WaltportError

WALT_NODES = "/var/lib/walt/nodes"
NFS_PORT = 2049
MOUNT_PORT = 20048
READY_TIMEOUT = 20.0
READY_LINE = "NFS SERVER INITIALIZED"
TOOLS = ("ganesha.nfsd", "rpcbind", "unshare")


class ServerSide(Protocol):
    """Where the NFS server runs and whom it serves (a lab, a bench link)."""

    @property
    def server_ip(self) -> str: ...

    @property
    def subnet(self) -> str: ...

    def exec_argv(self, argv: list[str]) -> list[str]: ...


class NfsError(WaltportError):
    """The lab NFS server could not start (named tool or log line)."""

    exit_code = 5


def node_exports(node_ip: str, image_root: Path, lab_dir: Path) -> dict[str, Path]:
    """WalT's paths for ``node_ip`` -> the host directories served there."""
    base = f"{WALT_NODES}/{node_ip}"
    return {f"{base}/fs": image_root.resolve(), f"{base}/lab": lab_dir.resolve()}


def ganesha_config(exports: Mapping[str, Path], *, server_ip: str, subnet: str) -> str:
    """``ganesha.conf`` text: NFSv3 only, read-only exports to ``subnet`` (pure)."""
    net = ipaddress.ip_network(subnet, strict=False)
    lines = [
        "NFS_CORE_PARAM {",
        "  Protocols = 3;",
        f"  Bind_addr = {server_ip};",
        f"  NFS_Port = {NFS_PORT};",
        f"  MNT_Port = {MOUNT_PORT};",
        "  Enable_NLM = false;",        # nodes mount with nolock
        "  Enable_RQUOTA = false;",
        "  Mount_Path_Pseudo = true;",  # v3 mounts by WalT's path, not the host path
        "}",
        "NFSV4 { Graceless = true; }",
        "LOG { Default_Log_Level = EVENT; }",
    ]
    for n, (pseudo, path) in enumerate(sorted(exports.items()), start=1):
        lines += [
            "EXPORT {",
            f"  Export_Id = {n};",
            f'  Path = "{path}";',
            f'  Pseudo = "{pseudo}";',
            "  Access_Type = None;",
            "  Squash = No_Root_Squash;",   # the image's files are root's: keep their owners
            "  Protocols = 3;",
            "  Transports = TCP, UDP;",
            "  SecType = sys;",
            "  FSAL { Name = VFS; }",
            f"  CLIENT {{ Clients = {net}; Access_Type = RO; }}",
            "}",
        ]
    return "\n".join(lines) + "\n"


def server_script(config: Path, log: Path) -> str:
    """The ``sh`` script run in a private mount namespace: rpcbind, then ganesha (pure)."""
    return (
        "mount --make-rprivate /\n"
        "mount -t tmpfs waltport-nfs /run\n"
        "mkdir -p /run/rpcbind /run/ganesha\n"
        "rpcbind -f -w &\n"
        "n=0; while [ ! -S /run/rpcbind.sock ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done\n"
        f"exec ganesha.nfsd -F -f '{config}' -L '{log}' -p /run/ganesha/ganesha.pid\n"
    )


def server_argv(lab: ServerSide, script: Path) -> list[str]:
    """The command line: ``unshare -m`` inside the lab server namespace."""
    return lab.exec_argv(["unshare", "-m", "sh", str(script)])


class NfsServer:
    """rpcbind + nfs-ganesha for one lab; ``start`` returns once ganesha serves."""

    def __init__(self, lab: ServerSide, exports: Mapping[str, Path], work: Path) -> None:
        self.lab = lab
        self.exports = dict(exports)
        self.work = Path(work)
        self.log = self.work / "ganesha.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NfsServer:
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            raise ToolMissing(missing[0], "nfs-ganesha nfs-ganesha-vfs rpcbind")
        for pseudo, path in self.exports.items():
            if not path.is_dir():
                raise NfsError(f"NFS export {pseudo}: {path} is not a directory")
        self.work.mkdir(parents=True, exist_ok=True)
        config, script = self.work / "ganesha.conf", self.work / "nfs-server.sh"
        config.write_text(ganesha_config(self.exports, server_ip=self.lab.server_ip,
                                         subnet=self.lab.subnet))
        script.write_text(server_script(config, self.log))
        self.log.unlink(missing_ok=True)
        with open(self.work / "nfs-server.out", "wb") as out:
            # Own process group: stop() ends rpcbind with ganesha.
            self._proc = subprocess.Popen(server_argv(self.lab, script), stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.log.exists() and READY_LINE in self.log.read_text(errors="replace"):
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise NfsError(f"nfs-ganesha did not start within {READY_TIMEOUT:.0f} s "
                       f"(see {self.log} and {self.work / 'nfs-server.out'})")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            if proc is not None:
                self._killpg(proc.pid, signal.SIGKILL)   # rpcbind may outlive ganesha
            return
        self._killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        self._killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

    @staticmethod
    def _killpg(pgid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)

    def __enter__(self) -> NfsServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
