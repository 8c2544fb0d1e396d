"""Versions of the tools a run relied on (an edge: reads binaries, runs --version)."""

from __future__ import annotations

import functools
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

UBOOT_BINARY = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
UBOOT_RE = re.compile(rb"U-Boot 20\d\d\.\d\d[^\0\n]{0,80}")
PYTHON_PACKAGES = ("waltport", "papermill", "nbclient", "ipykernel", "ipywidgets", "pydantic",
                   "jinja2", "scapy", "dpkt", "tftpy", "pexpect", "podman", "matplotlib")


def uboot_version_from_binary(blob: bytes) -> str | None:
    """Pure: the ``U-Boot 2023.01...`` banner compiled into a U-Boot binary."""
    m = UBOOT_RE.search(blob)
    return m.group(0).decode("ascii", "replace").strip() if m else None


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = (out.stdout or out.stderr).strip().splitlines()
    return line[0] if line else None


def _dpkg_version(package: str) -> str | None:
    v = _first_line(["dpkg-query", "-W", "-f=${Version}", package])
    return f"{v} (Debian {package})" if v else None


@functools.cache
def collect_versions() -> dict[str, object]:
    """U-Boot (from the binary), iPXE, QEMU, podman, Python and its packages."""
    uboot = None
    if UBOOT_BINARY.exists():
        uboot = uboot_version_from_binary(UBOOT_BINARY.read_bytes())
    packages: dict[str, str] = {}
    for name in PYTHON_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "u-boot": uboot,
        "ipxe": _dpkg_version("ipxe-qemu"),
        "qemu-system-aarch64": _first_line(["qemu-system-aarch64", "--version"]),
        "qemu-system-x86_64": _first_line(["qemu-system-x86_64", "--version"]),
        "podman": _first_line(["podman", "--version"]),
        "tcpdump": _first_line(["tcpdump", "--version"]),
        "python": platform.python_version(),
        "packages": packages,
    }
