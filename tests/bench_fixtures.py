"""Bench in a box: hardware that waltport can only see as hardware, built from QEMU.

    netns <tag>-hw ("the board and its cables")         netns <tag>-bench (waltport runs here)
    +---------------------------------------------+     +--------------------------+
    | br0 (ageing 0: a hub, so passive taps see    |     | bench0  <- the bench     |
    |      every frame)                            |     |   file's `interface`     |
    |  +- tap0   QEMU board's NIC                  |     |   (no address, down)     |
    |  +- cable0 (veth) ---------------------------+-----+-> bench0                 |
    |  +- walt0  (veth, passive tests) -> netns <tag>-walt (a "WalT server")        |
    +---------------------------------------------+     +--------------------------+

The serial port is one end (``tty``) of a socat pty pair; QEMU gets the other
end.  Power is two shell commands that start QEMU with ``-daemonize -pidfile``
and kill it.  waltport is run as a separate process inside the bench
namespace, with nothing but a bench file: it cannot know there is a QEMU.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from conftest import processes_mentioning

from waltport.media.build import build_profile_media
from waltport.profile.load import load_profile

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"
UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class BenchBox:
    tag: str
    work: Path
    socat: subprocess.Popen[bytes] | None = None

    @property
    def hw(self) -> str:
        return f"{self.tag}-hw"

    @property
    def bench(self) -> str:
        return f"{self.tag}-bench"

    @property
    def walt(self) -> str:
        return f"{self.tag}-walt"

    @property
    def tty(self) -> Path:
        return self.work / "ttyBENCH"

    @property
    def qemu_tty(self) -> Path:
        return self.work / "ttyBOARD"

    @property
    def pidfile(self) -> Path:
        return self.work / "board.pid"

    def up(self) -> BenchBox:
        for ns in (self.hw, self.bench):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.hw, "link", "add", "br0", "type", "bridge", "forward_delay", "0",
           "stp_state", "0", "ageing_time", "0", "mcast_snooping", "0")
        ip("-n", self.hw, "link", "set", "br0", "up")
        ip("-n", self.hw, "tuntap", "add", "dev", "tap0", "mode", "tap")
        ip("-n", self.hw, "link", "set", "tap0", "master", "br0", "up")
        ip("-n", self.hw, "link", "add", "cable0", "type", "veth", "peer", "name", "bench0",
           "netns", self.bench)
        ip("-n", self.hw, "link", "set", "cable0", "master", "br0", "up")
        self.socat = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.tty}",
             f"pty,raw,echo=0,link={self.qemu_tty}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not (self.tty.exists() and self.qemu_tty.exists()):
            assert time.monotonic() < deadline, "socat made no pty pair"
            time.sleep(0.05)
        return self

    @contextlib.contextmanager
    def walt_server_port(self) -> Iterator[str]:
        """A third netns on the segment, where a bench server plays the WalT server.

        Removed afterwards: its 192.168.152.1 would answer ARP for the next test's server.
        """
        self._add_walt_server_port()
        try:
            yield self.walt
        finally:
            ip("-n", self.hw, "link", "del", "walt0")
            ip("netns", "del", self.walt)

    def _add_walt_server_port(self) -> None:
        ip("netns", "add", self.walt)
        ip("-n", self.walt, "link", "set", "lo", "up")
        ip("-n", self.hw, "link", "add", "walt0", "type", "veth", "peer", "name", "eth0",
           "netns", self.walt)
        ip("-n", self.hw, "link", "set", "walt0", "master", "br0", "up")
        ip("-n", self.walt, "addr", "add", "192.168.152.1/24", "dev", "eth0")
        ip("-n", self.walt, "link", "set", "eth0", "up")

    def down(self) -> None:
        self.power_off_now()
        if self.socat is not None and self.socat.poll() is None:
            os.killpg(self.socat.pid, signal.SIGTERM)
            self.socat.wait(5)
        for ns in (self.walt, self.bench, self.hw):
            if Path(f"/run/netns/{ns}").exists():
                pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                      text=True, check=False).stdout.split()
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                ip("netns", "del", ns)

    def power_off_now(self) -> None:
        subprocess.run(["sh", "-c", self.off_command()], check=False)

    # -- the "hardware" -------------------------------------------------------
    def qemu_argv(self, arch: str, mac: str, disk: Path | None = None) -> list[str]:
        common = ["-m", "512", "-accel", "tcg", "-no-reboot", "-nodefaults", "-display",
                  "none", "-monitor", "none",
                  "-chardev", f"serial,id=s0,path={self.qemu_tty}", "-serial", "chardev:s0",
                  "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                  "-daemonize", "-pidfile", str(self.pidfile)]
        if arch == "arm64":
            argv = ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-bios",
                    str(UBOOT), *common, "-device",
                    f"virtio-net-pci,disable-legacy=on,netdev=n0,mac={mac}"]
            if disk is not None:
                argv += ["-drive", f"if=none,id=sd0,format=raw,readonly=on,file={disk}",
                         "-device", "virtio-blk-pci,disable-legacy=on,drive=sd0"]
            return argv
        return ["qemu-system-x86_64", "-M", "pc", *common, "-boot", "n", "-device",
                f"virtio-net-pci,netdev=n0,mac={mac}"]

    def on_command(self, argv: list[str]) -> str:
        return " ".join(shlex.quote(a) for a in ["ip", "netns", "exec", self.hw, *argv])

    def off_command(self) -> str:
        p = shlex.quote(str(self.pidfile))
        return f"if [ -f {p} ]; then kill $(cat {p}) 2>/dev/null; rm -f {p}; fi; true"

    def qemu_power(self, argv: list[str]) -> dict[str, str]:
        """The bench file's power commands that start QEMU ``argv`` and stop it."""
        return {"on": self.on_command(argv), "off": self.off_command()}

    def bench_file(self, name: str, *, power: object, console: bool = True,
                   mode: str = "interface", interface: str = "bench0",
                   model: str | None = None) -> Path:
        data: dict[str, object] = {
            "name": name, "link": {"mode": mode, "interface": interface},
            "console": {"port": str(self.tty), "baud": 115200} if console else None,
            "power": power}
        if model:
            data["model"] = model
        path = self.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def waltport(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``waltport ARGS`` inside the bench namespace, as a porter would run it."""
        waltport = str(ROOT / ".venv" / "bin" / "waltport")
        return subprocess.run(["ip", "netns", "exec", self.bench, waltport, *args],
                              capture_output=True, text=True, check=False, timeout=timeout,
                              cwd=self.work)


@contextlib.contextmanager
def bench_box(tag: str, work: Path) -> Iterator[BenchBox]:
    box = BenchBox(tag, work)
    try:
        yield box.up()
    finally:
        box.down()


def sd_card(profile: str, dest: Path) -> Path:
    """The board's SD card, as `waltport media` writes it (boot.scr on a partitioned FAT)."""
    return build_profile_media(load_profile(BOARDS / f"{profile}.yaml"), dest).image


def nothing_left(box: BenchBox, out: Path) -> list[str]:
    """What a run left behind: processes naming its output dir or the pid file, addresses."""
    left = processes_mentioning(str(out)) + processes_mentioning(str(box.pidfile))
    addrs = subprocess.run(["ip", "-n", box.bench, "-4", "-o", "addr", "show", "dev", "bench0"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return left + ([f"address left on bench0: {addrs}"] if addrs else [])


def have_tools() -> bool:
    return all(shutil.which(t) for t in ("socat", "qemu-system-aarch64", "qemu-system-x86_64",
                                          "tcpdump")) and UBOOT.is_file()
