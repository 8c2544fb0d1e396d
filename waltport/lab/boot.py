"""``waltport lab boot``: put a board on a target and boot it through the sequence, to userspace.

The board under test is a :class:`waltport.lab.target.ports.Target`: the
virtual board (QEMU power and console, a tap in the lab: :func:`boot_once`)
or a real board on a bench (the bench file's power, serial console and
host interface: :mod:`waltport.lab.benchboot`).  Either way one
:func:`waltport.lab.drive.drive` call per boot powers it on and judges every
stage from the evidence.  A family the lab cannot boot whole (sub-model read
from a board variable, a dtb of the board) boots a stand-in
(:mod:`waltport.lab.standin`).  Everything started here is stopped on
success, failure and Ctrl-C; a lab brought up here is taken down again.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from waltport.bootloader.render import render_artifacts
from waltport.errors import WaltportError
from waltport.host import reaper
from waltport.host.netns import Lab, is_owned
from waltport.image.rootfs import assemble_default_rootfs
from waltport.lab.drive import BootRun, BootServer, Expected, drive
from waltport.lab.imageroot import (
    ImageRootError,
    build_image_root,
    check_image_root,
    lab_cpu_64bit,
    lab_model,
    second_stage_name,
)
from waltport.lab.login import ImageLogin, has_own_init, login_key
from waltport.lab.sequence import STAGES, Observability, stage_statistics
from waltport.lab.standin import StandIn, build_standin_root, stand_in_for
from waltport.lab.target.link import LabLink
from waltport.lab.target.ports import Target
from waltport.lab.virtual.board import VirtualBoard
from waltport.lab.virtual.flashenv import (
    build_flash_image,
    dump_default_env,
    fragment_settings,
    stored_env_text,
)
from waltport.lab.virtual.qemu import Board, firmware_problems, qemu_argv
from waltport.media.build import build_profile_media
from waltport.net.server import BenchServer
from waltport.profile.model import Bootloader, Profile
from waltport.util.atomic import write_text

DEFAULT_TIMEOUT = 180.0


class BootFailed(WaltportError):
    """A boot could not be set up: names what is missing or wrong."""

    exit_code = 4


@dataclass(frozen=True)
class BootReport:
    board: str
    model: str
    image_root: str
    out_dir: str
    runs: tuple[BootRun, ...] = field(default_factory=tuple)
    first_stage: str = "sdcard"
    target: str = "virtual"               # virtual | bench <name>
    stand_in: str | None = None           # what stood in for the real board, if anything

    @property
    def success_rate(self) -> float:
        return sum(r.ok for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    def to_json(self) -> dict[str, object]:
        return {"board": self.board, "model": self.model, "first_stage": self.first_stage,
                "target": self.target, "stand_in": self.stand_in,
                "image_root": self.image_root,
                "out_dir": self.out_dir, "success_rate": self.success_rate, "ok": self.ok,
                "stages": stage_statistics([r.stages for r in self.runs if r.ok]),
                "boots": [r.to_json() for r in self.runs]}

    def summary(self) -> str:
        lines = [f"{self.board} ({self.model}, {self.target}): "
                 f"{sum(r.ok for r in self.runs)}/{len(self.runs)} boots passed every stage "
                 "this bench can observe"]
        if self.stand_in:
            lines.append(f"  stand-in: {self.stand_in}")
        for r in self.runs:
            times = ", ".join(f"{s.name} {s.time:.2f}s" for s in r.stages
                              if s.time is not None and s.name != "power_on")
            lines.append(f"  boot {r.index}: {'ok' if r.ok else 'FAILED'} ({times})")
            skipped: dict[str, list[str]] = {}
            for s in r.stages:
                if s.skipped:
                    skipped.setdefault(s.reason, []).append(s.name)
            lines += [f"    {', '.join(names)}: {why}" for why, names in skipped.items()]
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
    """The lab ``name``, brought up if needed and taken down afterwards if it was
    (by a guardian process if this one is killed first)."""
    lab = Lab(name)
    created = not is_owned(name)
    if created:
        reaper.watch(name)
    try:
        lab.up()
    except BaseException:
        if created:     # half made (or refused: a namespace that is not ours stays)
            with contextlib.suppress(WaltportError):
                lab.down()
            reaper.release(name)
        raise
    try:
        yield lab
    finally:
        if created:
            lab.down()
            reaper.release(name)


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


def first_stage(profile: Profile, work: Path, mode: str = "sdcard",
                board_env: dict[str, str] | None = None, arch: str | None = None, *,
                base: Path | None = None) -> FirstStage:
    """Build the first stage from the generated artifacts.

    U-Boot: ``sdcard`` = boot.scr on a partitioned FAT disk image; ``flash`` =
    the bootcommand in a stored environment (SPI-flash analog), plus
    ``board_env`` (a stand-in's board variables).  iPXE: the ROM's PXE DHCP
    gets boot.ipxe (``mode`` is ignored).  ``arch``: the U-Boot board whose
    default environment the flash holds (default: the profile's arch).
    """
    artifacts = render_artifacts(profile)
    if profile.bootloader is Bootloader.IPXE:
        if mode == "usb":
            key = build_profile_media(profile, work / "usb.img", base=base)
            return FirstStage(mode, usb=key.image)
        pxe = work / "boot.ipxe"
        write_text(pxe, artifacts["boot.ipxe"].decode())
        return FirstStage("pxe", pxe=pxe)
    if mode == "sdcard" and not board_env:
        card = build_profile_media(profile, work / "sdcard.img", base=base)
        return FirstStage(mode, disk=card.image)
    if mode in ("sdcard", "flash"):
        defaults = dump_default_env(work / "uboot-default-env.log",
                                    arch=arch or str(profile.arch))
        settings = {**fragment_settings(artifacts["bootcommand.fragment"].decode()),
                    **(board_env or {})}
        text = stored_env_text(defaults, settings)
        write_text(work / "uboot-env.txt", text)
        return FirstStage("flash", flash=build_flash_image(text, work / "flash1.img"))
    raise BootFailed(f"first stage {mode!r}: a U-Boot board uses sdcard or flash "
                     "(usb is the PC's key)")


def board_arch(profile: Profile, model: str) -> str:
    """The virtual board's arch for ``model``: a PC without long mode for a 32-bit sub-model."""
    arch = str(profile.arch_of(model))
    if arch == "x86_64" and not lab_cpu_64bit(profile, model):
        return "x86"
    return arch


def expected_of(profile: Profile, model: str) -> Expected:
    """What the board of ``model`` must do on the wire (pure)."""
    s = profile.second_stage
    return Expected(model, str(profile.dhcp_identifier), second_stage_name(profile),
                    s.kernel, s.initrd)


def boot_once(profile: Profile, model: str, lab: Lab, server: BootServer, *, index: int,
              first: FirstStage, out_dir: Path, timeout: float,
              login: ImageLogin | None = None, stand_in: StandIn | None = None) -> BootRun:
    """Boot the virtual board once; a :class:`BootRun` whatever happens.

    With ``login`` the image root is served over NFS to the node's lease and,
    after the initramfs, the image's own init must start and accept SSH.
    """
    run_dir = out_dir / f"boot-{index}"
    arch = stand_in.arch if stand_in else board_arch(profile, model)
    mac = board_mac(index, arch)
    board = Board(arch=arch, tap=f"wpt{index % 1000}",
                  mac=mac, memory_mb=512, disk=first.disk, flash=first.flash, usb=first.usb)
    qemu = VirtualBoard(lab.exec_argv(qemu_argv(board)), run_dir / "console.log")
    seen = Observability(image_stages=login is not None,
                         stand_in=stand_in.describe() if stand_in else None,
                         board_stages=stand_in.board_stages if stand_in else ())
    with _tap(lab, board.tap or "") as tap:
        target = Target(qemu, qemu, LabLink(lab, tap), mac,
                        stand_in.describe() if stand_in else None)
        return drive(target, server, expected_of(profile, model), index=index,
                     run_dir=run_dir, timeout=timeout, login=login, seen=seen)


def resolve_model(profile: Profile, model: str | None) -> str:
    """``model``, or the one a virtual board of the profile is; a clear error otherwise."""
    if model is not None:
        if model not in profile.all_models:
            raise BootFailed(f"{profile.name}: {model!r} is not one of its models "
                             f"{list(profile.all_models)}")
        return model
    if len(profile.all_models) == 1:
        return profile.all_models[0]
    try:
        return lab_model(profile)
    except ImageRootError as err:
        raise BootFailed(f"{err}; or give --model (one of {', '.join(profile.all_models)}) "
                         "to boot a stand-in") from err


def fresh_out_dir(out: Path) -> None:
    """Remove the boots and server state of an earlier run in ``out``."""
    # A fresh registry: every boot is a new node to the server.
    for old in [*out.glob("boot-*"), out / "server-state"]:
        shutil.rmtree(old, ignore_errors=True)


def boot_board(profile: Profile, *, base: Path | None = None, lab_name: str = "walt-lab",
               image_root: str | Path | None = None, boots: int = 1,
               timeout: float = DEFAULT_TIMEOUT, out_dir: str | Path | None = None,
               first_stage_mode: str = "sdcard", model: str | None = None,
               image_login: bool | None = None, default_image: bool = False) -> BootReport:
    """Netboot the virtual board of ``profile`` ``boots`` times; the report.

    ``base``: the profile's directory, where porter-supplied files of its
    medium are (default: the current directory).

    Without ``image_root`` one is built (Debian kernel + lab initramfs + the
    generated second stage).  ``first_stage_mode`` (U-Boot boards): ``sdcard``
    or ``flash``.  ``model`` picks a sub-model of a family (default: the one a
    64-bit virtual board is; ``pc-x86-32`` boots a CPU without long mode, so
    the real iPXE detects it; a model the lab cannot boot whole boots a
    stand-in).  ``image_login`` (default: when the image root has its own
    ``/sbin/init``, e.g. the default image) serves the root over NFS and adds
    the stages ``image_userspace`` and ``ssh_login``.  Failures of the board
    are recorded in the report, not raised.  ``default_image`` boots the
    profile's default image (the rootfs ``waltport image build`` puts in
    podman, assembled here without podman) instead of the lab's kernel and
    initramfs: its NFS root, init and SSH login are then part of the boot.
    """
    model = resolve_model(profile, model)
    try:
        stand_in = stand_in_for(profile, model)
        if stand_in is None:
            lab_cpu_64bit(profile, model)
    except WaltportError as err:
        raise BootFailed(str(err)) from err
    try:
        default_dir = profile.name if model == lab_model(profile) else f"{profile.name}-{model}"
    except ImageRootError:
        default_dir = f"{profile.name}-{model}"
    out = (Path(out_dir) if out_dir else Path("build") / "lab" / default_dir).resolve()
    if boots < 1:
        raise BootFailed(f"--boots must be at least 1, not {boots}")
    out.mkdir(parents=True, exist_ok=True)
    fresh_out_dir(out)
    arch = stand_in.arch if stand_in else board_arch(profile, model)
    problems = firmware_problems(Board(arch=arch, tap="t"))
    if problems:
        raise BootFailed("; ".join(problems))
    if stand_in is not None and image_root:
        # The default image of the board: the stand-in fetches its real kernel and dtb.
        root = Path(image_root)
        check_image_root(root, profile, model)
        stand_in = replace(stand_in, image="the image it serves")
        first = first_stage(profile, out, "flash", stand_in.variables, arch=stand_in.arch)
        image_login = False
    elif stand_in is not None:
        root = build_standin_root(profile, model, out / "image-root")
        first = first_stage(profile, out, "flash", stand_in.variables, arch=stand_in.arch)
        image_login = False
    else:
        if image_root:
            root = Path(image_root)
        elif default_image:
            root = out / "default-image"
            assemble_default_rootfs(profile, root, str(profile.arch_of(model)))
        else:
            root = build_image_root(profile, model, out / "image-root")
        check_image_root(root, profile, model)
        first = first_stage(profile, out, first_stage_mode, base=base)
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
                                  out_dir=out, timeout=timeout, login=login,
                                  stand_in=stand_in))
    report = BootReport(profile.name, model, str(root), str(out), tuple(runs), first.mode,
                        stand_in=stand_in.describe() if stand_in else None)
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
    "expected_of",
    "first_stage",
    "has_own_init",
    "lab_session",
    "resolve_model",
]
