"""What the bench server process serves, and where: one typed value, argv only at the edges.

The engine (:func:`waltport.net.serve.run`) takes a :class:`ServeConfig`.
Two edges speak argv: the server process reads its command line with
:func:`parse_argv`, and a parent starting it writes one with
:meth:`ServeConfig.argv`; each is the other's inverse.  Pure: no I/O.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from waltport.errors import UsageError

ISOLATED_FLAG = "--i-know-this-network-is-isolated"


@dataclass(frozen=True)
class ServeConfig:
    """One bench server: its interface, image root, state dir and guard inputs."""

    interface: str
    image_root: Path
    state: Path
    lab: str | None = None                 # a lab the project created (the guard's first test)
    isolated: bool = False                 # the user's --i-know-this-network-is-isolated
    pxe_first_stage: Path | None = None    # served as pxe/walt-x86-undionly.kpxe
    tftp_workers: int | None = None        # TFTP worker processes (None: one per CPU, >= 2)
    lifeline_fd: int | None = None         # stop when this pipe reaches end-of-file

    def __post_init__(self) -> None:
        if self.tftp_workers is not None and self.tftp_workers < 1:
            raise UsageError(f"--tftp-workers must be >= 1, got {self.tftp_workers}")

    def argv(self) -> list[str]:
        """The server process's arguments for this config (:func:`parse_argv` reads them)."""
        out = ["--interface", self.interface, "--image-root", str(self.image_root),
               "--state", str(self.state)]
        if self.lifeline_fd is not None:
            out += ["--lifeline-fd", str(self.lifeline_fd)]
        if self.lab:
            out += ["--lab", self.lab]
        if self.isolated:
            out.append(ISOLATED_FLAG)
        if self.pxe_first_stage is not None:
            out += ["--pxe-first-stage", str(self.pxe_first_stage)]
        if self.tftp_workers is not None:
            out += ["--tftp-workers", str(self.tftp_workers)]
        return out


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def parse_argv(argv: list[str]) -> ServeConfig:
    """The server process's command line as a config (argparse exits 2 on a bad one)."""
    p = argparse.ArgumentParser(prog="python -m waltport.net.serve")
    p.add_argument("--interface", required=True)
    p.add_argument("--lab")
    p.add_argument(ISOLATED_FLAG, action="store_true", dest="isolated")
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--pxe-first-stage", type=Path)
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--tftp-workers", type=positive_int, default=None,
                   help="TFTP worker processes (default: number of CPUs, at least 2)")
    p.add_argument("--lifeline-fd", type=int, default=None,
                   help="stop when this pipe reaches end-of-file (the parent is gone)")
    a = p.parse_args(argv)
    return ServeConfig(a.interface, a.image_root, a.state, a.lab, a.isolated,
                       a.pxe_first_stage, a.tftp_workers, a.lifeline_fd)
