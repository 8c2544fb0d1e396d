"""Podman, through podman-py only, on waltport's own service when the user has none.

:class:`PodmanService` owns a private ``podman system service`` on a socket
under ``state_dir()/podman`` with project-owned containers.conf and
storage.conf (so a user's own podman configuration and storage are never
touched); it is started on entry and stopped on exit.  A file lock makes
concurrent waltport processes take turns instead of starting a second
service on the same socket.  ``$CONTAINER_HOST`` (a user's own service) is
used as is, without starting anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from podman import PodmanClient
from podman.errors import ImageNotFound

from waltport.errors import ToolMissing, WaltportError
from waltport.image.sources import looks_like_path, open_docker_archive, open_path
from waltport.image.view import RootView
from waltport.util.atomic import write_text
from waltport.util.paths import state_dir

START_TIMEOUT = 30.0
CONTAINERS_CONF = """\
# waltport's private podman configuration (see docs/image.md)
[containers]
log_driver = "json-file"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""


class PodmanError(WaltportError):
    """Podman is not reachable or refused an operation (names which, and why)."""

    exit_code = 3


def storage_conf(root: Path) -> str:
    """storage.conf text keeping graph and run roots under ``root``."""
    return (f'[storage]\ndriver = "overlay"\ngraphroot = "{root / "storage"}"\n'
            f'runroot = "{root / "run"}"\n')


def service_argv(socket: Path) -> list[str]:
    """The command line of the private API service (never times out by itself)."""
    return ["podman", "system", "service", "--time=0", f"unix://{socket}"]


def service_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(root / "containers.conf")
    env["CONTAINERS_STORAGE_CONF"] = str(root / "storage.conf")
    env.pop("CONTAINER_HOST", None)
    return env


def mounts_under(root: Path, mountinfo: str) -> list[str]:
    """Mount points at or below ``root`` in ``/proc/self/mountinfo`` text, deepest first."""
    base = str(root.resolve())
    points = [line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4]
    mine = [p for p in points if p == base or p.startswith(base + "/")]
    return sorted(set(mine), key=len, reverse=True)


def release_mounts(root: Path) -> None:
    """Unmount what podman's overlay driver left mounted under ``root`` (service stopped)."""
    try:
        info = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return
    for point in mounts_under(root, info):
        subprocess.run(["umount", point], capture_output=True, check=False)


class PodmanService:
    """A podman-py client, on ``$CONTAINER_HOST`` or on a private service started here."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or state_dir() / "podman"
        self.socket = self.root / "podman.sock"
        self.url = os.environ.get("CONTAINER_HOST", "")
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise PodmanError("podman service not started (use PodmanService as a context)")
        return self._client

    def __enter__(self) -> PodmanService:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not self.url:
            self._start_private()
            self.url = f"unix://{self.socket}"
        self._client = PodmanClient(base_url=self.url, timeout=600)
        # The socket file appears when it is bound, a moment before the service
        # listens on it: a private service gets until START_TIMEOUT to answer.
        deadline = time.monotonic() + (START_TIMEOUT if self._proc is not None else 0)
        while True:
            try:
                self._client.ping()
                return
            except Exception as err:
                if time.monotonic() >= deadline or (self._proc and self._proc.poll() is not None):
                    raise PodmanError(f"podman service at {self.url} is not reachable: "
                                      f"{err}") from err
            time.sleep(0.1)

    def _start_private(self) -> None:
        if shutil.which("podman") is None:
            raise ToolMissing("podman", "podman")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / "service.lock", "w")  # noqa: SIM115
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        write_text(self.root / "containers.conf", CONTAINERS_CONF)
        write_text(self.root / "storage.conf", storage_conf(self.root))
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()   # left by a killed run; we hold the lock
        log = open(self.root / "service.log", "ab")  # noqa: SIM115
        self._proc = subprocess.Popen(service_argv(self.socket), env=service_env(self.root),
                                      stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.socket.exists():
            if self._proc.poll() is not None:
                raise PodmanError(f"podman system service exited with {self._proc.returncode}"
                                  f" (log: {self.root / 'service.log'})")
            if time.monotonic() > deadline:
                raise PodmanError(f"podman system service did not create {self.socket} in "
                                  f"{START_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Close the client, stop the private service (if we started one), release the lock."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            self._proc = None
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()
            release_mounts(self.root)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- operations (each one podman-py call, errors named) -----------------

    def get_image(self, ref: str) -> Any:
        try:
            return self.client.images.get(ref)
        except ImageNotFound as err:
            raise PodmanError(f"no image {ref!r} in podman storage ({self.url})") from err
        except Exception as err:
            raise PodmanError(f"podman: cannot read image {ref!r}: {err}") from err

    def save(self, ref: str, dest: Path, fmt: str = "docker-archive") -> Path:
        """Write image ``ref`` as ``fmt`` (docker-archive or oci-archive) to ``dest``."""
        image = self.get_image(ref)
        try:
            resp = self.client.api.get(f"/images/{ref}/get",
                                       params={"format": fmt, "compress": False}, stream=True)
            resp.raise_for_status()
            with open(dest, "wb") as f:
                for chunk in resp.iter_content(chunk_size=1 << 20):
                    f.write(chunk)
        except Exception as err:
            raise PodmanError(f"podman: cannot save {ref} ({image.id[:12]}) as {fmt}: "
                              f"{err}") from err
        return dest

    def load(self, archive: Path) -> list[str]:
        """Load a docker-archive/oci-archive; the names podman reports."""
        try:
            # Streamed: a Debian image is hundreds of MB.
            with open(archive, "rb") as data:
                resp = self.client.api.post("/images/load", data=data,
                                            headers={"Content-type": "application/x-tar"})
            resp.raise_for_status()
            return list(resp.json().get("Names") or [])
        except Exception as err:
            raise PodmanError(f"podman: cannot load {archive}: {err}") from err


@contextlib.contextmanager
def open_source(source: str) -> Iterator[RootView]:
    """A view of a host path source, or of an image in podman storage (saved, not run)."""
    if looks_like_path(source):
        with open_path(source) as view:
            yield view
        return
    tmp = Path(tempfile.mkdtemp(prefix="waltport-save-"))
    try:
        with PodmanService() as svc:
            archive = svc.save(source, tmp / "image.tar")
        with open_docker_archive(archive) as view:
            view.source = f"podman:{source}"
            view.kind = "podman-image"
            yield view
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
