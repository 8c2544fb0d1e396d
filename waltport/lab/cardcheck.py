"""Smoke test of a Raspberry Pi 3 card under QEMU raspi3b (``waltport media --verify``).

QEMU cannot run the VideoCore firmware (bootcode.bin, start.elf), so the
card's own ``u-boot.bin`` and dtb are given to QEMU directly (``-kernel``,
``-dtb``) and the card is the SD card (``-sd``; QEMU wants a power-of-two
size).  The test stops autoboot once to read ``fdtfile`` (set by U-Boot's
board code from the board revision, not from a sample), then lets distro
boot find and run ``boot.scr`` from the card.  QEMU emulates no USB-Ethernet
chip U-Boot knows, so the run ends at the DHCP attempt: the verdict says
exactly that, "medium verified up to detection".

:class:`QemuCardCheck` is the :class:`waltport.media.build.MediumCheck` the
``media`` command hands to the build: the medium is checked after it is
written and its findings go into the sidecar, written once.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from waltport.lab.target.console import Console, ConsoleTimeout
from waltport.media.disk import tool_env
from waltport.media.plan import MediaError, MediaPlan
from waltport.profile.detect import detect
from waltport.profile.media import SECTOR
from waltport.profile.model import Profile

VERDICT = "medium verified up to detection"
# QEMU 7.2 has raspi3b only; it reports a 3B revision, so only a 3B card detects right.
MACHINES = {"rpi-3-b": "raspi3b"}
DHCP_RE = r"No ethernet found|DHCP client bound|BOOTP broadcast"
RESET_WAIT = 10.0
PROMPT_RE = r"^(U-Boot> |=> )"    # Debian's rpi builds say "U-Boot> "
WALT_MODEL_RE = re.compile(r"^walt_model=(\S*)$|^(\S+): No match$")


@dataclass(frozen=True)
class CardCheck:
    """What the card did under QEMU: every field is read from its console."""

    ok: bool
    verdict: str
    machine: str
    uboot: str | None = None          # U-Boot's banner
    board: str | None = None          # U-Boot's board line (revision from the mailbox)
    fdtfile: str | None = None        # as U-Boot's board code set it
    script_found: bool = False
    detected: str | None = None       # walt_model when the script reached DHCP
    expected: str | None = None       # the detection simulator on the same fdtfile
    ended_at: str | None = None       # the last step the run reached
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def raspi3b_argv(uboot: Path, dtb: Path, card: Path) -> list[str]:
    """*Pure.* QEMU raspi3b running the card's U-Boot with the card as SD (never written)."""
    return ["qemu-system-aarch64", "-M", "raspi3b", "-accel", "tcg", "-no-reboot",
            "-display", "none", "-monitor", "none", "-kernel", str(uboot), "-dtb", str(dtb),
            "-drive", f"if=sd,format=raw,snapshot=on,file={card}",
            # U-Boot's console on a Pi 3 is the mini UART: QEMU's second serial port.
            "-serial", "null", "-serial", "stdio"]


def walt_models(lines: list[str]) -> list[str]:
    """*Pure.* The successive values of walt_model the script printed (setexpr output)."""
    out = []
    for line in lines:
        m = WALT_MODEL_RE.match(line.strip())
        if m:
            out.append(m.group(1) if m.group(1) is not None else m.group(2))
    return out


def _extract(image: Path, part_start: int, name: str, dest: Path) -> Path:
    res = subprocess.run(["mcopy", "-n", "-i", f"{image}@@{part_start * SECTOR}", f"::{name}",
                          str(dest)], capture_output=True, text=True, check=False,
                         env=tool_env())
    if res.returncode != 0:
        raise MediaError(f"{image.name}: cannot read {name} from the card: "
                         f"{res.stderr.strip()}")
    return dest


def verify_rpi_card(profile: Profile, model: str, image: Path, dtb: str, *,
                    part_start: int = 2048, log: Path, timeout: float = 120.0) -> CardCheck:
    """Boot ``image`` (a card for ``model``) in QEMU; what it proved."""
    machine = MACHINES.get(model)
    if machine is None:
        raise MediaError(f"model {model}: QEMU has no machine for it (the smoke test runs "
                         f"cards for {', '.join(sorted(MACHINES))})")
    size = image.stat().st_size
    if size & (size - 1):
        raise MediaError(f"{image.name}: {size} bytes; QEMU's SD card needs a power of two")
    with tempfile.TemporaryDirectory(prefix="waltport-raspi-") as tmp:
        uboot = _extract(image, part_start, "u-boot.bin", Path(tmp) / "u-boot.bin")
        fdt = _extract(image, part_start, dtb, Path(tmp) / dtb)
        console = Console(raspi3b_argv(uboot, fdt, image), log)
        fdtfile: str | None = None
        script_found = False
        ended_at: str | None = None
        error: str | None = None
        try:
            console.start()
            console.expect("Hit any key to stop autoboot", timeout, "autoboot prompt")
            console.send(" ")
            console.expect(PROMPT_RE, timeout, "U-Boot prompt")
            console.send("printenv fdtfile\n")
            # Read the value once the next prompt shows its line is complete.
            console.expect(PROMPT_RE, timeout, "U-Boot prompt after printenv")
            fdtfile = next((ln.text.split("=", 1)[1].strip() for ln in console.lines
                            if ln.text.startswith("fdtfile=")), None)
            console.send("run bootcmd\n")
            console.expect(r"Found U-Boot script /boot\.scr", timeout, "boot.scr on the card")
            script_found = True
            console.expect(r"## Executing script", timeout, "boot.scr running")
            console.expect(DHCP_RE, timeout, "the DHCP attempt")
            # The script then resets the board: QEMU exits (-no-reboot), every line complete.
            console.wait(RESET_WAIT)
            ended_at = next((ln.text.strip() for ln in reversed(console.lines)
                             if re.search(DHCP_RE, ln.text)), None)
        except ConsoleTimeout as err:
            error = str(err).splitlines()[0]
        finally:
            console.stop()
        lines = [ln.text for ln in console.lines]
    expected = detect(profile, {"fdtfile": fdtfile}).model if fdtfile is not None else None
    return judge(model, machine, lines, fdtfile=fdtfile, expected=expected,
                 script_found=script_found, ended_at=ended_at, error=error)


def judge(model: str, machine: str, lines: list[str], *, fdtfile: str | None,
          expected: str | None, script_found: bool, ended_at: str | None,
          error: str | None) -> CardCheck:
    """*Pure.* The verdict from the console: the script reached DHCP having detected ``model``.

    ``expected`` is the detection simulator's answer on the same ``fdtfile``.
    """
    models = walt_models(lines)
    detected = models[-1] if models and ended_at is not None else None
    ok = error is None and script_found and detected == model == expected
    return CardCheck(
        ok, VERDICT if ok else "medium NOT verified", machine,
        uboot=next((ln.strip() for ln in lines if re.match(r"U-Boot \d{4}\.", ln)), None),
        board=next((ln.strip() for ln in lines if ln.startswith("RPI ")), None),
        fdtfile=fdtfile, script_found=script_found, detected=detected, expected=expected,
        ended_at=ended_at, error=error)


def console_log(image: Path) -> Path:
    """Where the card's console is kept: next to the image."""
    return image.with_name(image.name + ".qemu.log")


@dataclass(frozen=True)
class QemuCardCheck:
    """A Raspberry Pi 3 card booted under QEMU raspi3b, for the build to run on its medium."""

    timeout: float = 120.0

    def refusal(self, model: str) -> str | None:
        """*Pure.* Why a medium for ``model`` cannot be checked (None: it can)."""
        if model in MACHINES:
            return None
        return f"--verify: QEMU can boot cards for {', '.join(sorted(MACHINES))}, not {model}"

    def outputs(self, image: Path) -> tuple[Path, ...]:
        return (console_log(image),)

    def run(self, profile: Profile, plan: MediaPlan, image: Path) -> dict[str, object]:
        dtb = next(f.dest for f in plan.files if f.source.origin == "kernel-dtb")
        return verify_rpi_card(profile, plan.model, image, dtb, part_start=plan.partition_start,
                               log=console_log(image), timeout=self.timeout).to_json()
