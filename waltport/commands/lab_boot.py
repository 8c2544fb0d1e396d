"""``waltport lab boot`` and ``waltport lab crosscheck``: the virtual boards."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from waltport.errors import UsageError
from waltport.image.tarball import export_rootfs
from waltport.lab.benchboot import boot_bench
from waltport.lab.boot import FIRST_STAGE_MODES, BootReport, boot_board
from waltport.lab.crosscheck import run_crosscheck
from waltport.profile.load import load_profile
from waltport.util.outdir import prepare_out_dir
from waltport.util.paths import state_dir


def register(lab_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    boot = lab_sub.add_parser(
        "boot", help="netboot a board against the bench server, to userspace: the virtual "
                     "board (QEMU), or a real board described by --bench")
    boot.add_argument("profile", type=Path, help="board profile (boards/qemu-arm64.yaml, ...)")
    boot.add_argument("--lab", default="walt-lab", help="lab name (brought up if needed)")
    root = boot.add_mutually_exclusive_group()
    root.add_argument("--image-root", type=Path,
                      help="image root with boot/<model>/ (default: build one)")
    root.add_argument("--image", metavar="IMAGE",
                      help="boot this image (podman storage name, docker/oci archive): "
                           "exported with its owners to a private directory, served over NFS")
    root.add_argument("--default-image", action="store_true",
                      help="boot the profile's default image (busybox, dropbear, Debian "
                           "kernel, initrd) to an SSH login instead of the lab's initramfs")
    boot.add_argument("--boots", type=int, default=1, help="boot N times (reliability run)")
    boot.add_argument("--timeout", type=float, default=180.0,
                      help="seconds per boot to reach userspace")
    boot.add_argument("--first-stage", choices=FIRST_STAGE_MODES, default="sdcard",
                      help="U-Boot boards: the board's medium (`waltport media`: boot.scr "
                           "on an SD-card image) or the bootcommand in a flash environment; "
                           "iPXE boards: PXE from the NIC ROM, or `usb`: the USB key "
                           "`waltport media` writes (BIOS, no NIC ROM)")
    boot.add_argument("--model", help="sub-model of a family to boot (e.g. pc-x86-32: a CPU "
                                      "without long mode); default: the 64-bit board's")
    boot.add_argument("--bench", type=Path, metavar="BENCH.yaml",
                      help="boot the real board of this bench file (link, console, power) "
                           "instead of the virtual board")
    boot.add_argument("--i-know-this-network-is-isolated", dest="isolated",
                      action="store_true",
                      help="--bench: serve DHCP on the bench interface although it is not in a "
                           "lab namespace (it is a cable to the board alone)")
    boot.add_argument("--out", type=Path,
                      help="output dir (default build/lab/<profile>, build/bench/<bench>)")
    boot.add_argument("--force", action="store_true",
                      help="use an existing non-empty --out directory waltport did not write")
    boot.add_argument("--json", action="store_true", help="print the report as JSON")
    boot.set_defaults(func=_boot)

    cross = lab_sub.add_parser(
        "crosscheck", help="run the sub-model detection in real U-Boot for every sample")
    cross.add_argument("profile", type=Path, help="U-Boot board profile with samples")
    cross.add_argument("--out", type=Path, help="where the console log and result go")
    cross.add_argument("--force", action="store_true",
                       help="use an existing non-empty --out directory waltport did not write")
    cross.add_argument("--json", action="store_true", help="print the result as JSON")
    cross.set_defaults(func=_crosscheck)


def _boot(args: argparse.Namespace) -> int:
    if args.boots < 1:
        raise UsageError(f"--boots must be at least 1, not {args.boots}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout}")
    out = prepare_out_dir(args.out, "lab boot", force=args.force) if args.out else None
    if args.image is None:
        report = _boot_with(args, args.image_root, out)
    else:
        with tempfile.TemporaryDirectory(prefix="lab-image-", dir=state_dir()) as work:
            exported = export_rootfs(args.image, Path(work) / "rootfs", owners=True)
            for finding in exported.findings:
                print(f"note: {args.image}: {finding}", file=sys.stderr)
            report = _boot_with(args, exported.root, out)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.summary())
    return 0 if report.ok else 4


def _boot_with(args: argparse.Namespace, image_root: Path | None,
               out: Path | None) -> BootReport:
    if args.bench is not None:
        return boot_bench(load_profile(args.profile), args.bench, image_root=image_root,
                          boots=args.boots, timeout=args.timeout, out_dir=out,
                          model=args.model, isolated_ack=args.isolated,
                          default_image=args.default_image)
    return boot_board(load_profile(args.profile), base=Path(args.profile).resolve().parent,
                      lab_name=args.lab, image_root=image_root,
                      boots=args.boots, timeout=args.timeout, out_dir=out,
                      first_stage_mode=args.first_stage, model=args.model,
                      default_image=args.default_image)


def _crosscheck(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    out = prepare_out_dir(args.out, "lab crosscheck", force=args.force) if args.out else None
    check = run_crosscheck(profile, out_dir=out)
    print(json.dumps(check.to_json(), indent=2) if args.json else check.summary())
    return 0 if check.ok else 1
