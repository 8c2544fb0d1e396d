"""``waltport bundle RUN_DIR --out FILE``: the archive to attach to the WalT issue."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the bundle pulls in dpkt and jinja2: only `bundle` and `run` pay for it
    from waltport.pipeline.bundle import BundleInfo


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bundle", help="one .zip/.tar.gz of a run to attach to the WalT issue",
                       description="Bundle the run in RUN_DIR: reports, summary, junit, stage "
                                   "results, executed notebooks, bootloader artifacts, console "
                                   "logs, captures (large ones trimmed to DHCP/TFTP control "
                                   "packets), and a manifest with the sha256 of what was left "
                                   "out.  Refuses private keys and tokens; host paths are made "
                                   "relative to RUN_DIR.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="output directory of waltport run")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="FILE.zip or FILE.tar.gz (default: RUN_DIR/waltport-bundle.zip)")
    p.set_defaults(func=cmd_bundle)


def describe(info: BundleInfo) -> str:
    """One line for the terminal: where the bundle is, and whether it fits GitHub."""
    from waltport.pipeline.bundle import ATTACHMENT_LIMIT  # noqa: PLC0415

    size = f"{info.bytes / 1e6:.1f} MB" if info.bytes >= 10**6 else f"{info.bytes / 1e3:.0f} kB"
    line = (f"bundle: {info.path} ({size}, {info.files} files, {info.left_out} large "
            "artifacts left out: see bundle-manifest.json)")
    if info.over_limit:
        line += (f"\nbundle: larger than GitHub's {ATTACHMENT_LIMIT // 10**6} MB attachment "
                 "limit: attach report.md as a comment and share the bundle another way")
    return line


def cmd_bundle(args: argparse.Namespace) -> int:
    from waltport.pipeline.bundle import write_bundle  # noqa: PLC0415

    print(describe(write_bundle(args.run_dir, args.out)))
    return 0
