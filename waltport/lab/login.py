"""Logging into a booted node over SSH, from the lab client namespace.

A WalT server installs its public key as the node's
``/root/.ssh/authorized_keys`` and then reaches the node by ``ssh root@<ip>``.
The lab does the same with a key pair made per run (``ssh-keygen``): the
public key is served beside the NFS root (:mod:`waltport.lab.nfs`), the
initramfs copies it into the RAM overlay, and :func:`ssh_command` runs one
command on the node from the client namespace (which gets a static address
outside the DHCP pool for the time of the login).  :func:`image_leg` and
:func:`log_in` are the two halves of a boot's image-userspace leg (used by
:func:`waltport.lab.boot.boot_once`).
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

from waltport.errors import ToolMissing, WaltportError
from waltport.lab.nfs import NfsServer, node_exports
from waltport.lab.target.console import Console
from waltport.lab.virtual.netns import Lab, LabError, _run
from waltport.net.registry import Registry
from waltport.util.paths import state_dir

SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR")
CLIENT_HOST_INDEX = 6          # .7 in a /24: below the DHCP pool (hosts[8:])
IMAGE_RE = r"WALTPORT-IMAGE-INIT|WALTPORT-POWEROFF|Kernel panic"
LOGIN_COMMAND = "uname -m"
SSH_TIMEOUT = 90.0


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


def ssh_argv(lab: Lab, key: Path, node_ip: str, command: str) -> list[str]:
    """``ssh -i key root@node command`` run inside the lab client namespace (pure)."""
    return lab.client_exec_argv(["ssh", "-i", str(key), *SSH_OPTIONS, f"root@{node_ip}",
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


def ssh_command(lab: Lab, key: Path, node_ip: str, command: str, *,
                timeout: float = 60.0) -> SshResult:
    """Run ``command`` on the node, retrying until sshd answers or ``timeout`` passes."""
    if shutil.which("ssh") is None:
        raise ToolMissing("ssh", "openssh-client")
    argv = ssh_argv(lab, key, node_ip, command)
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


def _wait_lease(registry: Registry, mac: str, console: Console, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and console.running():
        ip = registry.lease_of(mac)
        if ip:
            return ip
        time.sleep(0.2)
    return None


def image_leg(lab: Lab, registry: Registry, login: ImageLogin, mac: str, *,
               console: Console, nfs: contextlib.ExitStack, run_dir: Path,
               timeout: float) -> dict[str, object]:
    """Serve the node's root over NFS as soon as the node has a lease."""
    ip = _wait_lease(registry, mac, console, timeout)
    if ip is None:
        return {"time": None, "error": "the board took no DHCP lease"}
    try:
        nfs.enter_context(NfsServer(lab, node_exports(ip, login.image_root, login.key.lab_dir),
                                    run_dir / "nfs"))
    except WaltportError as err:
        # The initramfs then falls back to power-off; the image stages fail with this.
        return {"time": None, "error": str(err)}
    return {"time": None, "node_ip": ip}


def log_in(lab: Lab, login: ImageLogin, console: Console, leg: dict[str, object],
           timeout: float) -> dict[str, object]:
    """After the image's init marker, ``ssh ... uname -m``; then ``poweroff`` the same way."""
    ip = str(leg["node_ip"])
    _, line = console.expect(IMAGE_RE, timeout, "image init marker")
    if "WALTPORT-IMAGE-INIT" not in line:
        return {**leg, "error": "the image's init did not start (see the NFSROOT line)"}
    with client_on_lab(lab) as client_ip:
        res = ssh_command(lab, login.key.private, ip, LOGIN_COMMAND, timeout=SSH_TIMEOUT)
        out: dict[str, object] = {**leg, "time": console.now() if res.ok else None,
                                  "command": f"ssh root@{ip} {LOGIN_COMMAND}",
                                  "from": f"{lab.client_netns} {client_ip}",
                                  "output": res.output, "attempts": res.attempts}
        if res.ok:
            # Power off the WalT way: through the node's own init.
            ssh_command(lab, login.key.private, ip, "poweroff", timeout=10)
        else:
            out["error"] = f"ssh login failed: {res.output}"
    return out
