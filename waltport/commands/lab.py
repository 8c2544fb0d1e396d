"""``waltport lab ...``: one command group, filled by the lab modules listed below."""

from __future__ import annotations

import argparse
import importlib

# Modules that add sub-commands to ``waltport lab`` (each defines register(lab_subparsers)).
LAB_MODULES: tuple[str, ...] = ("waltport.commands.lab_boot", "waltport.commands.lab_net")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lab = sub.add_parser("lab", help="isolated lab network and virtual boards")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    lab_sub.required = True
    for name in LAB_MODULES:
        importlib.import_module(name).register(lab_sub)
