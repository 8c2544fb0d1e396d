"""``waltport check`` and ``waltport detect``: the board profile and its sub-model rules."""

from __future__ import annotations

import argparse
import json
import sys

from waltport.errors import UsageError
from waltport.profile.detect import check_samples, detect
from waltport.profile.load import load_profile
from waltport.profile.model import IpxeCpuidDetect


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="validate a board profile (exit 0, or 2 with every problem)")
    p.add_argument("profile")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("detect", help="the model a profile's detection rules select")
    p.add_argument("profile")
    p.add_argument("assignments", nargs="*", metavar="VAR=VALUE",
                   help="board variables, e.g. fdtfile=bcm2710-rpi-3-b.dtb")
    p.add_argument("--cpu", choices=("64", "32"), default="64",
                   help="iPXE boards: the CPU cpuid reports (default 64)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_detect)


def cmd_check(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    bad = check_samples(profile)
    for value, expected, got in bad:
        print(f"{args.profile}: sample {value!r} expects {expected}, the rules give {got}")
    if bad:
        return 2
    models = ", ".join(profile.all_models)
    print(f"{args.profile}: ok ({profile.name}: {profile.bootloader}, {profile.arch}, "
          f"{profile.dhcp_identifier}; models {models}; {len(profile.samples)} sample(s) agree)")
    return 0


def parse_assignments(items: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{item!r} is not VAR=VALUE")
        env[name] = value
    return env


def cmd_detect(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    env = parse_assignments(args.assignments)
    if isinstance(profile.detect, IpxeCpuidDetect) and env:
        raise UsageError("iPXE cpuid detection takes no variables: use --cpu 64|32")
    result = detect(profile, env, cpu_64bit=args.cpu == "64")
    if args.json:
        print(json.dumps({
            "model": result.model, "known": result.known, "identifier": result.identifier,
            "variables": result.variables,
            "steps": [{"rule": s.rule, "before": s.before, "after": s.after,
                       "matched": s.matched} for s in result.steps],
        }, indent=2))
    elif result.model is None:
        print("(none: the board would reset)")
    else:
        print(result.model)
    if result.model is None:
        return 1
    if not result.known:
        print(f"warning: {result.model!r} is not one of the profile's models "
              f"({', '.join(profile.all_models)})", file=sys.stderr)
        return 1
    return 0
