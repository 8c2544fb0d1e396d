"""The ``waltport`` command: one sub-command module per stage, same functions as the API."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from waltport._version import __version__
from waltport.errors import WaltportError

# Each module defines register(subparsers); a sub-command stores its handler in
# ``func`` (args -> exit code).  Add a stage by adding its module here.
COMMAND_MODULES = (
    "waltport.commands.profile",
    "waltport.commands.bootloader",
    "waltport.commands.lab",
    "waltport.commands.run",
    "waltport.commands.bundle",
    "waltport.commands.net",
    "waltport.commands.image",
    "waltport.commands.media",
    "waltport.commands.probe",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waltport",
        description="Port a new kind of board to WalT, stage by stage, with evidence.")
    parser.add_argument("--version", action="version", version=f"waltport {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (a closed session, `kill`, a CI timeout) unwinds like Ctrl-C, so every
    # `finally` runs: boards powered off, servers and namespaces taken down.
    # Commands that handle signals themselves (serve) install their own handlers.
    previous = _sigterm_as_interrupt()
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()          # a closed pipe is seen here, not at exit
        return code
    except WaltportError as err:
        print(f"waltport {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"waltport {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): no traceback, and none at exit when
        # Python flushes stdout again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _sigterm_as_interrupt() -> Any:
    """Edge: SIGTERM raises KeyboardInterrupt; the handler it replaced (None: not
    the main thread, where signals cannot be handled, or a handler not set from
    Python, which is then left alone)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is None:
        return None
    return signal.signal(signal.SIGTERM, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
