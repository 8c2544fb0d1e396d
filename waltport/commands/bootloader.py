"""``waltport bootloader|lint|mkimage|dumpimage``: first and second stage artifacts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from waltport.bootloader.generate import generate_bootloader
from waltport.bootloader.lint import lint_profile
from waltport.bootloader.scriptimage import ARCHES, build_script_image, parse_script_image
from waltport.errors import UsageError
from waltport.profile.load import load_profile
from waltport.util.atomic import write_bytes
from waltport.util.epoch import source_date_epoch
from waltport.util.outdir import check_out_file
from waltport.util.text import binary_reasons, for_terminal


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bootloader", help="generate, lint and compile the boot artifacts")
    p.add_argument("profile")
    p.add_argument("--out", required=True,
                   help="output directory (one waltport wrote is replaced as a whole)")
    p.add_argument("--force", action="store_true",
                   help="write into an existing non-empty directory waltport did not write "
                        "(its other files are kept)")
    p.set_defaults(func=cmd_bootloader)

    p = sub.add_parser("lint", help="lint the scripts a profile generates")
    p.add_argument("profile")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("mkimage", help="write a U-Boot script image (as mkimage -T script)")
    p.add_argument("--arch", required=True, choices=sorted(ARCHES))
    p.add_argument("--name", required=True)
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_mkimage)

    p = sub.add_parser("dumpimage", help="validate a script image and print its header and text")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dumpimage)


def cmd_bootloader(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    manifest = generate_bootloader(profile, args.out, force=args.force)
    for f in manifest.findings:
        print(f, file=sys.stderr)
    print(f"{profile.name}: {len(manifest.artifacts)} artifacts in {manifest.out_dir}")
    for name, digest in sorted(manifest.artifacts.items()):
        print(f"  {digest[:16]}  {name}")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    findings = lint_profile(load_profile(args.profile))
    if args.json:
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for f in findings:
            print(f)
        if not findings:
            print(f"{args.profile}: no findings")
    return 1 if any(f.severity == "error" for f in findings) else 0


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from err


def cmd_mkimage(args: argparse.Namespace) -> int:
    out = check_out_file(args.output)
    script = _read(args.input)
    if reasons := binary_reasons(script):
        print(f"waltport mkimage: warning: {args.input} does not look like a U-Boot script "
              f"({', '.join(reasons)}): wrapped as it is", file=sys.stderr)
    data = build_script_image(script, arch=args.arch, name=args.name,
                              timestamp=source_date_epoch())
    write_bytes(out, data)
    print(f"{args.output}: script image, {args.arch}, {len(data)} bytes")
    return 0


def cmd_dumpimage(args: argparse.Namespace) -> int:
    image = parse_script_image(_read(args.file), args.file)
    if args.json:
        print(json.dumps({**image.to_json(),
                          "script": image.script.decode("utf-8", "replace")}, indent=2))
        return 0
    # The header name and the script come from the file: no escape sequence of
    # theirs reaches the terminal as is.
    for key, value in image.to_json().items():
        print(f"{key:>12}: {for_terminal(str(value))}")
    print("-" * 40)
    sys.stdout.write(for_terminal(image.script.decode("utf-8", "replace")))
    return 0
