"""The SPI-flash analog: the generated bootcommand in U-Boot's stored environment (pflash).

On boards whose first stage is compiled into U-Boot (``CONFIG_BOOTCOMMAND``)
or kept in SPI flash, U-Boot runs ``bootcmd`` from its environment with no
script on a disk.  Debian's qemu_arm64 U-Boot keeps its environment in
flash bank 1 (``0x04000000``, 0x40000 bytes).  A valid stored environment
replaces the built-in defaults, so the image holds the defaults (dumped from
this very U-Boot with ``printenv``) plus ``bootcmd`` and ``bootdelay`` from
``bootcommand.fragment``; ``mkenvimage`` (u-boot-tools) adds the CRC.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from waltport.errors import ToolMissing, WaltportError
from waltport.lab.target.console import Console, ConsoleTimeout
from waltport.lab.virtual.qemu import Board, qemu_argv
from waltport.util.atomic import write_bytes

ENV_SIZE = 0x40000
FLASH_SIZE = 64 * 1024 * 1024
# Set by U-Boot at run time or by a transfer: never stored.
VOLATILE = frozenset({"fdtcontroladdr", "fileaddr", "filesize", "ethaddr", "ipaddr",
                      "serverip", "netmask", "gatewayip", "bootfile", "dnsip"})
ENV_LINE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$")


class FlashEnvError(WaltportError):
    """The stored environment could not be built."""


def parse_printenv(lines: list[str]) -> dict[str, str]:
    """``name=value`` lines of U-Boot's ``printenv`` -> dict (other lines ignored)."""
    env: dict[str, str] = {}
    for line in lines:
        m = ENV_LINE_RE.match(line)
        if m:
            env[m.group(1)] = m.group(2)
    return env


def fragment_settings(fragment: str) -> dict[str, str]:
    """``bootcmd`` and ``bootdelay`` from a ``bootcommand.fragment`` (Kconfig syntax)."""
    cmd = re.search(r'^CONFIG_BOOTCOMMAND="((?:[^"\\]|\\.)*)"\s*$', fragment, re.M)
    if cmd is None:
        raise FlashEnvError("bootcommand.fragment has no CONFIG_BOOTCOMMAND line")
    out = {"bootcmd": re.sub(r"\\(.)", r"\1", cmd.group(1))}
    delay = re.search(r"^CONFIG_BOOTDELAY=(-?\d+)\s*$", fragment, re.M)
    if delay:
        out["bootdelay"] = delay.group(1)
    return out


def stored_env_text(defaults: dict[str, str], settings: dict[str, str]) -> str:
    """The environment as ``mkenvimage`` reads it: sorted ``name=value`` lines."""
    env = {k: v for k, v in defaults.items() if k not in VOLATILE}
    env.update(settings)
    for name, value in env.items():
        if "\n" in value:
            raise FlashEnvError(f"environment variable {name} holds a newline")
    return "".join(f"{k}={v}\n" for k, v in sorted(env.items()))


def dump_default_env(log: Path, *, firmware: Path | None = None, arch: str = "arm64",
                     timeout: float = 60.0) -> dict[str, str]:
    """The built-in environment of the U-Boot binary, as its own ``printenv`` shows it.

    ``arch``: the virtual board whose U-Boot is asked (``arm64`` or ``arm``).
    """
    board = Board(arch=arch, tap=None, memory_mb=128, firmware=firmware)
    with Console(qemu_argv(board), log) as console:
        try:
            console.expect(r"Hit any key to stop autoboot", timeout, "U-Boot autoboot prompt")
            console.send(" ")
            console.expect(r"^=> $", timeout, "U-Boot prompt")
            start = len(console.lines)
            console.send("printenv\n")
            console.expect(r"^Environment size", timeout, "printenv output")
        except ConsoleTimeout as err:
            raise FlashEnvError(f"reading U-Boot's default environment failed: {err}") from err
        lines = [ln.text for ln in console.lines[start:]]
        console.send("poweroff\n")
        console.wait(10)
    env = parse_printenv(lines)
    if "bootcmd" not in env:
        raise FlashEnvError(f"U-Boot's printenv showed no bootcmd (see {log})")
    return env


def build_flash_image(env_text: str, out: str | Path) -> Path:
    """A 64 MiB pflash bank image with the environment (mkenvimage, CRC) at offset 0."""
    if shutil.which("mkenvimage") is None:
        raise ToolMissing("mkenvimage", "u-boot-tools")
    with tempfile.TemporaryDirectory(prefix="waltport-env-") as tmp:
        src, env_bin = Path(tmp) / "env.txt", Path(tmp) / "env.bin"
        src.write_text(env_text)
        done = subprocess.run(["mkenvimage", "-s", str(ENV_SIZE), "-o", str(env_bin), str(src)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise FlashEnvError(f"mkenvimage failed: {done.stderr.strip()}")
        blob = env_bin.read_bytes()
    # Erased NOR flash reads 0xff.
    write_bytes(out, blob + b"\xff" * (FLASH_SIZE - len(blob)))
    return Path(out)
