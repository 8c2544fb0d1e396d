"""``waltport lab boot``: netboot a virtual board against the bench server, to userspace.

One :func:`boot_board` call brings the lab up (if it is not), starts the
bench server on the image root, then boots the board ``boots`` times, each
with its own MAC (a new node for the server), capture and console log.  The
stage times come from the evidence (pcap, console lines, the registry's
``booted`` event) through :mod:`waltport.lab.sequence`.  Everything started
here is stopped on success, failure and Ctrl-C; a lab brought up here is
taken down again.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from waltport.bootloader.render import render_artifacts
from waltport.errors import WaltportError
from waltport.image.rootfs import assemble_default_rootfs
from waltport.lab.imageroot import (
    ImageRootError,
    build_image_root,
    check_image_root,
    lab_cpu_64bit,
    lab_model,
    second_stage_name,
)
from waltport.lab.login import ImageLogin, has_own_init, image_leg, log_in, login_key
from waltport.lab.sequence import (
    STAGES,
    Stage,
    compute_stages,
    failed_stage,
    parse_pcap,
    stage_statistics,
)
from waltport.lab.target.console import Console, ConsoleTimeout
from waltport.lab.virtual.flashenv import (
    build_flash_image,
    dump_default_env,
    fragment_settings,
    stored_env_text,
)
from waltport.lab.virtual.netns import Lab, is_owned
from waltport.lab.virtual.qemu import Board, firmware_problems, qemu_argv
from waltport.media.build import build_profile_media
from waltport.net.capture import Capture
from waltport.net.registry import Registry
from waltport.net.server import BenchServer
from waltport.net.tftp import read_transfer_log
from waltport.profile.load import load_profile
from waltport.profile.model import Bootloader, Profile
from waltport.util.atomic import write_text

DEFAULT_TIMEOUT = 180.0
DONE_RE = r"WALTPORT-POWEROFF|Kernel panic|reboot: Power down"
PROMPT_RE = r"^=> $"          # U-Boot gave up and waits at its prompt (it never would on a node)
NOTIFY_WAIT = 5.0


class BootServer(Protocol):
    """What a boot reads from the server side: the bench server, or the reference daemons."""

    @property
    def registry(self) -> Registry: ...

    @property
    def transfer_log(self) -> Path: ...


class BootFailed(WaltportError):
    """A boot did not reach userspace: names the stage and shows the last console lines."""

    exit_code = 4


@dataclass(frozen=True)
class BootRun:
    """One boot: ok, each stage with time and evidence, where the logs are."""

    index: int
    mac: str
    ok: bool
    failed_stage: str | None
    stages: tuple[Stage, ...]
    console_log: str
    pcap: str
    console_tail: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "ok": self.ok, "mac": self.mac,
                "failed_stage": self.failed_stage,
                "stages": [{"name": s.name, "time": s.time, "evidence": s.evidence}
                           for s in self.stages],
                "console_log": self.console_log, "pcap": self.pcap,
                "console_tail": list(self.console_tail), "error": self.error}


@dataclass(frozen=True)
class BootReport:
    board: str
    model: str
    image_root: str
    out_dir: str
    runs: tuple[BootRun, ...] = field(default_factory=tuple)
    first_stage: str = "sdcard"

    @property
    def success_rate(self) -> float:
        return sum(r.ok for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    def to_json(self) -> dict[str, object]:
        return {"board": self.board, "model": self.model, "first_stage": self.first_stage,
                "image_root": self.image_root,
                "out_dir": self.out_dir, "success_rate": self.success_rate, "ok": self.ok,
                "stages": stage_statistics([r.stages for r in self.runs if r.ok]),
                "boots": [r.to_json() for r in self.runs]}

    def summary(self) -> str:
        lines = [f"{self.board} ({self.model}): {sum(r.ok for r in self.runs)}/{len(self.runs)} "
                 f"boots reached userspace"]
        for r in self.runs:
            times = ", ".join(f"{s.name} {s.time:.2f}s" for s in r.stages
                              if s.time is not None and s.name != "power_on")
            lines.append(f"  boot {r.index}: {'ok' if r.ok else 'FAILED'} ({times})")
            if not r.ok:
                lines.append(f"    failed at stage {r.failed_stage}: {r.error or ''}")
                lines += [f"    | {ln}" for ln in r.console_tail]
        stats = stage_statistics([r.stages for r in self.runs if r.ok])
        if len(self.runs) > 1 and stats:
            lines.append("  stage            median    p95   (s since power-on)")
            lines += [f"  {name:16s} {v['median']:6.2f} {v['p95']:6.2f}"
                      for name, v in stats.items() if name != "power_on"]
        return "\n".join(lines)


def board_mac(index: int, arch: str) -> str:
    """A distinct locally administered MAC per boot (a new node each time)."""
    kind = {"arm64": 0x56, "x86": 0x58, "arm": 0x59}.get(arch, 0x57)
    return f"52:54:00:{kind:02x}:{(index >> 8) & 0xff:02x}:{index & 0xff:02x}"


@contextlib.contextmanager
def lab_session(name: str) -> Iterator[Lab]:
    """The lab ``name``, brought up if needed and taken down afterwards if it was."""
    lab = Lab(name)
    created = not is_owned(name)
    lab.up()
    try:
        yield lab
    finally:
        if created:
            lab.down()


@contextlib.contextmanager
def _tap(lab: Lab, name: str) -> Iterator[str]:
    lab.add_tap(name)
    try:
        yield name
    finally:
        lab.remove_tap(name)


FIRST_STAGE_MODES = ("sdcard", "flash", "usb")


@dataclass(frozen=True)
class FirstStage:
    """How the board gets its first stage: a disk (SD card), a flash environment, or PXE."""

    mode: str                       # sdcard | flash | pxe | usb
    disk: Path | None = None
    flash: Path | None = None
    pxe: Path | None = None
    usb: Path | None = None


def first_stage(profile: Profile, work: Path, mode: str = "sdcard", *,
                base: Path | None = None) -> FirstStage:
    """Build the first stage from the generated artifacts.

    U-Boot: ``sdcard`` = the board's medium (``waltport media``: boot.scr on
    a partitioned FAT disk image); ``flash`` = the bootcommand in a stored
    environment (SPI-flash analog).  iPXE: ``usb`` = the PC's USB key
    (``waltport media``), otherwise the ROM's PXE DHCP gets boot.ipxe.
    ``base``: the profile's directory (porter-supplied media files).
    """
    artifacts = render_artifacts(profile)
    if profile.bootloader is Bootloader.IPXE:
        if mode == "usb":
            key = build_profile_media(profile, work / "usb.img", base=base)
            return FirstStage(mode, usb=key.image)
        pxe = work / "boot.ipxe"
        write_text(pxe, artifacts["boot.ipxe"].decode())
        return FirstStage("pxe", pxe=pxe)
    if mode == "sdcard":
        card = build_profile_media(profile, work / "sdcard.img", base=base)
        return FirstStage(mode, disk=card.image)
    if mode == "flash":
        defaults = dump_default_env(work / "uboot-default-env.log", arch=str(profile.arch))
        settings = fragment_settings(artifacts["bootcommand.fragment"].decode())
        text = stored_env_text(defaults, settings)
        write_text(work / "uboot-env.txt", text)
        return FirstStage(mode, flash=build_flash_image(text, work / "flash1.img"))
    raise BootFailed(f"first stage {mode!r}: a U-Boot board uses sdcard or flash "
                     "(usb is the PC's key)")


def _booted_time(server: BootServer, mac: str, model: str, since: float) -> float | None:
    """When the server recorded this boot's notification (events of older boots ignored)."""
    events = [e for e in server.registry.events(mac)
              if e.kind == "booted" and e.model == model and e.time >= since]
    return events[0].time if events else None


def _served_files(server: BootServer, client_ip: str | None) -> dict[str, int]:
    """Files the server logged as sent whole to ``client_ip``: name -> bytes."""
    if client_ip is None or not server.transfer_log.exists():
        return {}
    return {r.requested.lstrip("/"): r.bytes for r in read_transfer_log(server.transfer_log)
            if r.client == client_ip and r.result == "ok"}


def board_arch(profile: Profile, model: str) -> str:
    """The virtual board's arch for ``model``: a PC without long mode for a 32-bit sub-model."""
    arch = str(profile.arch_of(model))
    if arch == "x86_64" and not lab_cpu_64bit(profile, model):
        return "x86"
    return arch


def boot_once(profile: Profile, model: str, lab: Lab, server: BootServer, *, index: int,
              first: FirstStage, out_dir: Path, timeout: float,
              login: ImageLogin | None = None) -> BootRun:
    """Boot the board once; a :class:`BootRun` whatever happens (never raises on failure).

    With ``login`` the image root is served over NFS to the node's lease and,
    after the initramfs, the image's own init must start and accept SSH.
    """
    run_dir = out_dir / f"boot-{index}"
    run_dir.mkdir(parents=True, exist_ok=True)
    arch = board_arch(profile, model)
    mac = board_mac(index, arch)
    board = Board(arch=arch, tap=f"wpt{index % 1000}",
                  mac=mac, memory_mb=512, disk=first.disk, flash=first.flash, usb=first.usb)
    console_log, pcap = run_dir / "console.log", run_dir / "capture.pcap"
    error: str | None = None
    booted: float | None = None
    leg: dict[str, object] | None = None
    with _tap(lab, board.tap or ""), contextlib.ExitStack() as nfs, \
            Capture(lab.netns, board.tap or "", pcap, grace=0.5):
        console = Console(lab.exec_argv(qemu_argv(board)), console_log)
        try:
            console.start()
            try:
                if login is not None:
                    leg = image_leg(lab, server.registry, login, mac, console=console, nfs=nfs,
                                     run_dir=run_dir, timeout=timeout)
                _, line = console.expect(f"WALTPORT-USERSPACE-OK|{PROMPT_RE}", timeout,
                                         "userspace marker")
                if re.search(PROMPT_RE, line):
                    raise ConsoleTimeout("userspace marker (U-Boot fell to its prompt)",
                                         console.now(), console.tail())
                deadline = time.monotonic() + NOTIFY_WAIT
                while booted is None and time.monotonic() < deadline:
                    booted = _booted_time(server, mac, model, console.started_wall)
                    time.sleep(0.1)
                if leg is not None and "node_ip" in leg:
                    leg = log_in(lab, login, console, leg, timeout)  # type: ignore[arg-type]
                with contextlib.suppress(ConsoleTimeout):
                    console.expect(DONE_RE, 20, "power-off")
            except ConsoleTimeout as err:
                if "prompt" in err.what:
                    error = "U-Boot fell to its prompt"
                elif console.running():
                    error = f"{err.what} not seen within {timeout:.0f} s"
                else:
                    error = "the board stopped (QEMU exited)"
        finally:
            console.stop()
        # iPXE cannot power off and U-Boot resets on error: the harness ends QEMU.
        time.sleep(1.0)  # tcpdump loses the last packets without a pause
    booted = booted or _booted_time(server, mac, model, console.started_wall)
    served = _served_files(server, server.registry.lease_of(mac))
    dhcp, tftp = parse_pcap(pcap.read_bytes() if pcap.exists() else b"", mac)
    s = profile.second_stage
    stages = compute_stages(
        t0_wall=console.started_wall, model=model, identifier=str(profile.dhcp_identifier),
        second_stage=second_stage_name(profile), kernel=s.kernel, initrd=s.initrd,
        dhcp=dhcp, tftp=tftp, console=[(ln.time, ln.text) for ln in console.lines],
        booted_wall=booted, served=served, login=leg if login is not None else None)
    if leg is not None and leg.get("time") is None and login is not None:
        leg.setdefault("error", "image stages not reached")
    failed = failed_stage(stages)
    if failed and error is None:
        error = "userspace marker seen but no boot notification recorded" \
            if failed == "userspace" else str(leg.get("error")) \
            if leg is not None and failed in ("image_userspace", "ssh_login") \
            else "stage not reached"
    return BootRun(index, mac, failed is None, failed, tuple(stages), str(console_log),
                   str(pcap), tuple(console.tail(15)) if failed else (), error)


def boot_board(profile_path: str | Path, *, lab_name: str = "walt-lab",
               image_root: str | Path | None = None, boots: int = 1,
               timeout: float = DEFAULT_TIMEOUT, out_dir: str | Path | None = None,
               first_stage_mode: str = "sdcard", model: str | None = None,
               image_login: bool | None = None, default_image: bool = False) -> BootReport:
    """Netboot the virtual board of ``profile_path`` ``boots`` times; the report.

    Without ``image_root`` one is built (Debian kernel + lab initramfs + the
    generated second stage).  ``first_stage_mode`` (U-Boot boards): ``sdcard``
    or ``flash``.  ``model`` picks a sub-model of a family (default: the one a
    64-bit virtual board is; ``pc-x86-32`` boots a CPU without long mode, so
    the real iPXE detects it).  ``image_login`` (default: when the image root
    has its own ``/sbin/init``, e.g. the default image) serves the root over
    NFS and adds the stages ``image_userspace`` and ``ssh_login``.  Failures
    are recorded in the report, not raised.  ``default_image`` boots the
    profile's default image (the rootfs ``waltport image build`` puts in
    podman, assembled here without podman) instead of the lab's kernel and
    initramfs: its NFS root, init and SSH login are then part of the boot.
    """
    profile = load_profile(profile_path)
    try:
        model = model or lab_model(profile)
        lab_cpu_64bit(profile, model)
    except ImageRootError as err:
        raise BootFailed(str(err)) from err
    default_dir = profile.name if model == lab_model(profile) else f"{profile.name}-{model}"
    out = Path(out_dir) if out_dir else Path("build") / "lab" / default_dir
    out = out.resolve()
    if boots < 1:
        raise BootFailed(f"--boots must be at least 1, not {boots}")
    out.mkdir(parents=True, exist_ok=True)
    # A fresh registry: every boot is a new node to the server.
    for old in [*out.glob("boot-*"), out / "server-state"]:
        shutil.rmtree(old, ignore_errors=True)
    problems = firmware_problems(Board(arch=board_arch(profile, model), tap="t"))
    if problems:
        raise BootFailed("; ".join(problems))
    if image_root:
        root = Path(image_root)
    elif default_image:
        root = out / "default-image"
        assemble_default_rootfs(profile, root, str(profile.arch_of(model)))
    else:
        root = build_image_root(profile, model, out / "image-root")
    check_image_root(root, profile, model)
    first = first_stage(profile, out, first_stage_mode, base=Path(profile_path).resolve().parent)
    if image_login is None:
        image_login = has_own_init(root)
    runs: list[BootRun] = []
    with (login_key() if image_login else contextlib.nullcontext()) as key, \
            lab_session(lab_name) as lab, \
            BenchServer(lab, root, pxe_first_stage=first.pxe,
                        state=out / "server-state") as server:
        login = ImageLogin(root.resolve(), key) if key is not None else None
        for i in range(boots):
            runs.append(boot_once(profile, model, lab, server, index=i, first=first,
                                  out_dir=out, timeout=timeout, login=login))
    report = BootReport(profile.name, model, str(root), str(out), tuple(runs), first.mode)
    write_text(out / "boot-report.json", json.dumps(report.to_json(), indent=2) + "\n")
    return report


__all__ = [
    "STAGES",
    "BootFailed",
    "BootReport",
    "BootRun",
    "BootServer",
    "FirstStage",
    "ImageLogin",
    "board_arch",
    "board_mac",
    "boot_board",
    "boot_once",
    "first_stage",
    "has_own_init",
    "lab_session",
]
