"""``waltport probe``: ask the board's own bootloader what a profile needs, draft one."""

from __future__ import annotations

import argparse

from waltport.probe.run import COMMAND_TIMEOUT, DEFAULT_TIMEOUT, probe_bench
from waltport.probe.session import UBOOT_AUTOBOOT, UBOOT_STOP, porter_keys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "probe", help="power the bench's board on, stop its bootloader (U-Boot, iPXE), read "
                      "what a profile needs, test DHCP/TFTP against the bench server, write a "
                      "draft profile (exit 0; 1: a verdict found a problem; 2: no prompt)")
    p.add_argument("--bench", required=True, help="the bench file (link, console, power)")
    p.add_argument("--profile", help="the porter's profile so far: checked against the board")
    p.add_argument("--name", help="name of the draft profile (default: the profile's, the "
                                  "bench's model, else the bench's name)")
    p.add_argument("--out", required=True, help="directory for probe.json, console.log and "
                                                "the draft <name>.yaml")
    p.add_argument("--countdown", default=UBOOT_AUTOBOOT,
                   help=f"regex of U-Boot's autoboot countdown (default: {UBOOT_AUTOBOOT!r}; "
                        "iPXE's Ctrl-B banner is always recognised)")
    p.add_argument("--stop", default=UBOOT_STOP,
                   help="what to type at the countdown (default: a space; a board built with "
                        "CONFIG_AUTOBOOT_STOP_STR wants that string)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds from power-on to the countdown (default {DEFAULT_TIMEOUT:.0f})")
    p.add_argument("--command-timeout", type=float, default=COMMAND_TIMEOUT,
                   help=f"seconds per command (default {COMMAND_TIMEOUT:.0f}); then Ctrl-C")
    p.add_argument("--i-know-this-network-is-isolated", action="store_true", dest="isolated",
                   help="serve DHCP on the bench interface even if the LAN guard doubts it")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty directory waltport did not write")
    p.add_argument("--json", action="store_true", help="print probe.json instead of a summary")
    p.set_defaults(func=cmd_probe)


def cmd_probe(args: argparse.Namespace) -> int:
    r = probe_bench(args.bench, args.out, profile=args.profile, name=args.name,
                    keys=porter_keys(args.countdown, args.stop),
                    timeout=args.timeout, command_timeout=args.command_timeout,
                    isolated_ack=args.isolated, force=args.force)
    if args.json:
        print((r.out / "probe.json").read_text(), end="")
        return 1 if r.problems else 0
    print(r.facts.version or f"{r.bootloader} (version not read)")
    for key, value in r.facts.highlights().items():
        if value is not None:
            print(f"  {key:16} {value}")
    for v in r.verdicts:
        print(v)
    state = "passes `waltport check`" if not r.draft_problems else \
        "does not pass `waltport check` yet: " + "; ".join(r.draft_problems)
    print(f"draft profile: {r.draft_path} ({state})")
    for fill in r.draft.review:
        print(f"  review: {fill}")
    print(f"transcript: {r.out / 'console.log'}; everything: {r.out / 'probe.json'}")
    return 1 if r.problems else 0
