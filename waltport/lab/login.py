"""Logging into a booted node over SSH, from the lab client namespace.

A WalT server installs its public key as the node's
``/root/.ssh/authorized_keys`` and then reaches the node by ``ssh root@<ip>``.
The lab does the same with a key pair made per run (``ssh-keygen``): the
public key is served beside the NFS root (:mod:`waltport.lab.nfs`), the
initramfs copies it into the RAM overlay, and :func:`ssh_command` runs one
command on the node from where the link logs in (the lab's client namespace,
which gets a static address outside the DHCP pool for the time of the login,
or the bench host).  The boot sequence (:mod:`waltport.lab.drive`) calls it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from waltport.errors import ToolMissing, WaltportError
from waltport.host.netns import Lab, LabError, _run
from waltport.util.paths import state_dir

SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR")
CLIENT_HOST_INDEX = 6          # .7 in a /24: below the DHCP pool (hosts[8:])
LOGIN_COMMAND = "uname -m"
SSH_TIMEOUT = 90.0
# What a WalT user works with on the node: apt, and the init's own view of the boot
# (``--wait``: until systemd has finished starting units).  Plain sh, any image.
NODE_FACTS_COMMAND = (
    'echo "apt=$(apt-get --version 2>/dev/null | head -n 1)"; '
    'if command -v systemctl >/dev/null 2>&1; then '
    'echo "systemd=$(timeout 120 systemctl is-system-running --wait 2>/dev/null)"; '
    "systemctl --failed --plain --no-legend --no-pager 2>/dev/null "
    "| while read -r unit _; do echo \"failed=$unit\"; done; fi")
NODE_FACTS_TIMEOUT = 150.0


@dataclass(frozen=True)
class NodeFacts:
    """What the node says about itself once logged in (absent tools are empty)."""

    apt: str                    # ``apt-get --version``'s first line, "" without apt
    systemd: str                # running | degraded | starting ... "" without systemd
    failed_units: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"apt": self.apt or "absent", "systemd": self.systemd or "absent",
                "failed_units": list(self.failed_units)}


def parse_node_facts(output: str) -> NodeFacts:
    """The facts printed by :data:`NODE_FACTS_COMMAND`. *Pure.*"""
    apt, systemd, failed = "", "", []
    for line in output.splitlines():
        key, _, value = line.strip().partition("=")
        if key == "apt":
            apt = value.strip()
        elif key == "systemd":
            systemd = value.strip()
        elif key == "failed" and value.strip():
            failed.append(value.strip())
    return NodeFacts(apt, systemd, tuple(failed))


class LoginError(WaltportError):
    """The lab's SSH key pair or client address could not be set up."""

    exit_code = 4


@dataclass(frozen=True)
class LoginKey:
    """A per-run key pair: ``private`` for ssh -i, ``lab_dir/authorized_keys`` for the node."""

    private: Path
    lab_dir: Path


@dataclass(frozen=True)
class SshResult:
    ok: bool
    argv: tuple[str, ...]
    output: str
    attempts: int
    seconds: float


@contextlib.contextmanager
def login_key() -> Iterator[LoginKey]:
    """A fresh key pair in waltport's state dir, removed when the boot session ends.

    Never under the run directory: run directories are bundled and published,
    and a private key (even a lab's throw-away one) must not go with them.
    """
    keys = state_dir() / "login-keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="key-", dir=keys))
    try:
        yield make_login_key(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_login_key(work: Path) -> LoginKey:
    """A fresh ed25519 key pair under ``work`` and the directory served to the node."""
    if shutil.which("ssh-keygen") is None:
        raise ToolMissing("ssh-keygen", "openssh-client")
    work.mkdir(parents=True, exist_ok=True)
    private = work / "id_ed25519"
    for p in (private, private.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    done = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                           "waltport-lab", "-f", str(private)],
                          capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise LoginError(f"ssh-keygen failed: {done.stderr.strip()}")
    lab_dir = work / "lab"
    lab_dir.mkdir(exist_ok=True)
    shutil.copyfile(private.with_suffix(".pub"), lab_dir / "authorized_keys")
    return LoginKey(private, lab_dir)


class LoginSide(Protocol):
    """Where a login comes from (the lab's client namespace, a bench interface's host)."""

    def client_exec_argv(self, argv: list[str]) -> list[str]: ...


def ssh_argv(side: LoginSide, key: Path, node_ip: str, command: str) -> list[str]:
    """``ssh -i key root@node command`` run where ``side`` logs in from (pure)."""
    return side.client_exec_argv(["ssh", "-i", str(key), *SSH_OPTIONS, f"root@{node_ip}",
                                 command])


def client_address(lab: Lab) -> str:
    """The static client-side address (``/prefix``), outside the DHCP pool (pure)."""
    host = list(lab.network.hosts())[CLIENT_HOST_INDEX]
    return f"{host}/{lab.network.prefixlen}"


@contextlib.contextmanager
def client_on_lab(lab: Lab) -> Iterator[str]:
    """The client namespace with an IPv4 address (added here if it has none, removed after)."""
    shown = _run(["ip", "-n", lab.client_netns, "-4", "-o", "addr", "show", "dev",
                  lab.client_interface])
    have = [f.split()[3] for f in shown.splitlines() if " inet " in f]
    if have:
        yield have[0].split("/")[0]
        return
    addr = client_address(lab)
    _run(["ip", "-n", lab.client_netns, "addr", "add", addr, "dev", lab.client_interface])
    try:
        yield str(ipaddress.ip_interface(addr).ip)
    finally:
        with contextlib.suppress(LabError):
            _run(["ip", "-n", lab.client_netns, "addr", "del", addr, "dev",
                  lab.client_interface])


def ssh_command(side: LoginSide, key: Path, node_ip: str, command: str, *,
                timeout: float = 60.0) -> SshResult:
    """Run ``command`` on the node, retrying until sshd answers or ``timeout`` passes."""
    if shutil.which("ssh") is None:
        raise ToolMissing("ssh", "openssh-client")
    argv = ssh_argv(side, key, node_ip, command)
    start = time.monotonic()
    attempts, output = 0, ""
    while True:
        attempts += 1
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False,
                                  timeout=30)
            output = (done.stdout + done.stderr).strip()
            if done.returncode == 0:
                return SshResult(True, tuple(argv), done.stdout.strip(), attempts,
                                 round(time.monotonic() - start, 3))
        except subprocess.TimeoutExpired:
            output = "ssh timed out after 30 s"
        if time.monotonic() - start > timeout:
            return SshResult(False, tuple(argv), output, attempts,
                             round(time.monotonic() - start, 3))
        time.sleep(1.0)


@dataclass(frozen=True)
class ImageLogin:
    """The image-userspace leg: the image root served over NFS, a key to log in with."""

    image_root: Path
    key: LoginKey


def has_own_init(root: Path) -> bool:
    """Whether an image root has an init of its own (then the lab serves it over NFS)."""
    init = root / "sbin" / "init"
    return init.is_symlink() or init.exists()
