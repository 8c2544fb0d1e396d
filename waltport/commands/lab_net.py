"""``waltport lab up|down|status``: the isolated lab network."""

from __future__ import annotations

import argparse
import json

from waltport.host.netns import DEFAULT_SUBNET, Lab


def cmd_up(args: argparse.Namespace) -> int:
    lab = Lab(args.name, args.subnet).up()
    print(f"lab {lab.name} up: server {lab.server_ip} on {lab.bridge} in netns {lab.netns}, "
          f"clients in netns {lab.client_netns}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    Lab(args.name).down()
    print(f"lab {args.name} down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    st = Lab(args.name).status()
    if args.json:
        print(json.dumps(st, indent=2, sort_keys=True))
    else:
        print(f"lab {st['name']}: {'up' if st['up'] else 'down'} (subnet {st['subnet']}, "
              f"server {st['server_ip']})")
        for ns, links in dict(st["links"]).items():  # type: ignore[call-overload]
            print(f"  {ns}: {links}")
    return 0 if st["up"] else 1


def register(lab_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, func, text in (("up", cmd_up, "create the lab namespaces (idempotent)"),
                             ("down", cmd_down, "stop what runs in the lab, delete it"),
                             ("status", cmd_status, "show the lab (exit 1 if it is down)")):
        p = lab_sub.add_parser(name, help=text)
        p.add_argument("--name", default="walt-lab", help="lab name (default walt-lab)")
        if name == "up":
            p.add_argument("--subnet", default=None,
                           help="private IPv4 subnet; the server is its first host (default "
                                f"{DEFAULT_SUBNET}, or the one the lab is up with)")
        if name == "status":
            p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)
