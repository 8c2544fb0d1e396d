"""The bench server process: DHCP + TFTP + RA + boot notifications on one interface.

Run inside the lab namespace (``python -m waltport.net.serve ...``, which
:class:`waltport.net.server.BenchServer` does).  Prints one ``READY {...}``
line when every socket is open, runs until SIGTERM/SIGINT, then closes them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from waltport.errors import WaltportError
from waltport.host.proc import watch_lifeline
from waltport.net import guard
from waltport.net.dhcp import DhcpServer
from waltport.net.dhcp_policy import PXE_FIRST_STAGE, DhcpConfig
from waltport.net.notify import NotificationListener
from waltport.net.ra import RaResponder
from waltport.net.registry import Registry
from waltport.net.tftp import Resolver
from waltport.net.tftp_map import ERR_NOT_FOUND, TftpRefused, contained, remap, split_target
from waltport.net.tftp_workers import NICENESS, TftpWorkers, default_workers
from waltport.profile.model import is_model_name


def image_id(image_root: Path) -> str:
    """A stable id for an image root (``images/<id>/fs`` in the TFTP layout)."""
    return hashlib.sha256(str(image_root.resolve()).encode()).hexdigest()[:12]


def make_resolver(registry: Registry, image_root: Path, pxe_first_stage: Path | None) -> Resolver:
    """requested path + client IP -> (remapped path, file), per WalT's rules and layout."""
    iid = image_id(image_root)

    def resolve(requested: str, client_ip: str) -> tuple[str, Path]:
        remapped = remap(requested, client_ip)
        try:
            return remapped, locate(remapped)
        except TftpRefused as err:
            raise TftpRefused(err.code, str(err), remapped) from err

    def locate(remapped: str) -> Path:
        target = split_target(remapped)
        if target.kind == "pxe":
            if pxe_first_stage is None or remapped != PXE_FIRST_STAGE:
                raise TftpRefused(ERR_NOT_FOUND, f"no PXE file {remapped!r}")
            return pxe_first_stage
        if target.kind == "image":
            if target.key != iid:
                raise TftpRefused(ERR_NOT_FOUND, f"no image {target.key!r}")
            return contained(image_root, target.rest)
        node = registry.node_for(target.key)
        # A registry written by an older server may hold any model string.
        if node is None or node.model is None or not is_model_name(node.model):
            raise TftpRefused(ERR_NOT_FOUND, f"no node registered as {target.key}")
        return contained(image_root, ("boot", node.model, *target.rest))

    return resolve


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m waltport.net.serve")
    p.add_argument("--interface", required=True)
    p.add_argument("--lab")
    p.add_argument("--i-know-this-network-is-isolated", action="store_true", dest="isolated")
    p.add_argument("--image-root", type=Path, required=True)
    p.add_argument("--pxe-first-stage", type=Path)
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--tftp-workers", type=_positive, default=None,
                   help="TFTP worker processes (default: number of CPUs, at least 2)")
    p.add_argument("--lifeline-fd", type=int, default=None,
                   help="stop when this pipe reaches end-of-file (the parent is gone)")
    return p.parse_args(argv)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _log_to(state: Path) -> None:
    logging.basicConfig(filename=state / "server.log", level=logging.INFO,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")


def _raise_priority() -> None:
    """DHCP gets the CPU first under a boot storm; the TFTP workers forked next drop back.

    A late DHCP answer can cost a board a retry or a reset, a slower transfer
    only time.  Raising this process (rather than lowering the workers below
    everything else on the machine) keeps TFTP on par with other daemons,
    e.g. tftpd-hpa in the benchmarks.  Without the privilege, nothing changes.
    """
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) - NICENESS)


def run(args: argparse.Namespace, stop: threading.Event) -> None:
    """Open everything, announce READY, serve until ``stop`` is set, close everything.

    TFTP runs in worker processes of its own (:class:`TftpWorkers`): a storm's
    transfers would otherwise hold the interpreter lock the DHCP thread needs
    (the boot-storm benchmark saw DHCP answers seconds late and clients
    resending), and several workers spread a storm's transfers over the CPUs.
    A real WalT server runs dhcpd and tftpd as separate processes too.
    """
    facts = guard.check_interface(args.interface, args.lab, isolated_ack=args.isolated)
    iface = ipaddress.IPv4Interface(facts.addresses[0])
    args.state.mkdir(parents=True, exist_ok=True)
    _log_to(args.state)
    # The registry (schema, WAL mode) is created before the TFTP workers open it:
    # two first openings at once fail with "database is locked".
    registry_path = args.state / "registry.sqlite"
    registry = Registry(registry_path)
    _raise_priority()
    tftp = TftpWorkers(
        str(iface.ip),
        lambda: make_resolver(Registry(registry_path), args.image_root, args.pxe_first_stage),
        args.state / "tftp-transfers.jsonl", args.tftp_workers or default_workers())
    # Forked before any thread of ours starts (a fork copies only the calling thread).
    tftp.start()
    if args.lifeline_fd is not None:
        watch_lifeline(args.lifeline_fd, stop)
    cfg = DhcpConfig.for_network(str(iface.network), str(iface.ip))
    parts: list[DhcpServer | RaResponder | NotificationListener] = [
        DhcpServer(cfg, registry, args.interface), RaResponder(args.interface),
        NotificationListener(str(iface.ip), registry)]
    started: list[DhcpServer | RaResponder | NotificationListener] = []
    try:
        for part in parts:
            part.start()
            started.append(part)
        pids = tftp.pids
        print("READY " + json.dumps({"server_ip": str(iface.ip), "interface": args.interface,
                                     "pid": os.getpid(), "tftp_pid": pids[0], "tftp_pids": pids,
                                     "image_id": image_id(args.image_root)}), flush=True)
        alive = tftp.count
        while not stop.wait(1.0):
            if tftp.alive() < alive:
                alive = tftp.alive()
                logging.getLogger("waltport.net.serve").error(
                    "a TFTP worker died: %d of %d left", alive, tftp.count)
    finally:
        for part in reversed(started):
            part.stop()
        tftp.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()
    # SIGHUP too: a closed terminal stops the server cleanly (workers included).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(args, stop)
    except (WaltportError, OSError) as err:
        print(f"bench server: {err}", file=sys.stderr, flush=True)
        return getattr(err, "exit_code", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
