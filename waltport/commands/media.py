"""``waltport media``: the SD card / USB key image a porter writes, with its sidecar."""

from __future__ import annotations

import argparse
from pathlib import Path

from waltport.lab.cardcheck import QemuCardCheck
from waltport.media.build import build_profile_media
from waltport.profile.load import load_profile


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("media", help="build the boot medium (SD card / USB key image) "
                                     "of a board, from Debian's firmware and bootloaders")
    p.add_argument("profile")
    p.add_argument("--model", help="the family's model the medium is for")
    p.add_argument("--out", required=True, help="image file to write (plus .json and .md)")
    p.add_argument("--verify", action="store_true",
                   help="Raspberry Pi 3 cards: boot the card's U-Boot under QEMU raspi3b and "
                        "check it runs boot.scr and detects the model (exit 1 if not)")
    p.set_defaults(func=cmd_media)


def cmd_media(args: argparse.Namespace) -> int:
    s = build_profile_media(load_profile(args.profile), args.out, model=args.model,
                            base=Path(args.profile).resolve().parent,
                            check=QemuCardCheck() if args.verify else None).sidecar
    print(f"{args.out}: {s.kind} medium for {s.model}, {s.size} bytes, sha256 {s.sha256}")
    for e in (*s.raw, *s.files):
        where = f"@{e.sector}" if e.sector is not None else ""
        flag = "  (non-free)" if e.non_free else ""
        print(f"  {e.path}{where}  {e.package} {e.version}  {e.sha256[:16]}{flag}")
    for n in s.notes:
        print(f"  note: {n}")
    print(f"content list: {args.out}.json, {args.out}.md")
    print(f"write it (name the device yourself): {s.write_commands()['dd']}")
    if s.verification is not None:
        v = s.verification
        print(f"QEMU {v['machine']}: {v['verdict']} (fdtfile {v['fdtfile']} -> {v['detected']}; "
              f"ended at: {v['ended_at'] or v['error']})")
        return 0 if v["ok"] else 1
    return 0
