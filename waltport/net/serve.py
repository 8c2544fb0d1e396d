"""The bench server process: DHCP + TFTP + RA + boot notifications on one interface.

Run inside the lab namespace (``python -m waltport.net.serve ...``, which
:class:`waltport.net.server.BenchServer` does), or in this process
(:func:`serve`, ``waltport serve --interface``).  Prints one ``READY {...}``
line when every socket is open, runs until SIGTERM/SIGINT, then closes them.
The engine takes a :class:`~waltport.net.serveconfig.ServeConfig`; only
:func:`main` reads a command line.
"""

from __future__ import annotations

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
from waltport.net.serveconfig import ServeConfig, parse_argv
from waltport.net.tftp import Resolver
from waltport.net.tftp_map import ERR_NOT_FOUND, TftpRefused, contained, remap, split_target
from waltport.net.tftp_session import lockstep_loop
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


def run(config: ServeConfig, stop: threading.Event) -> None:
    """Open everything, announce READY, serve until ``stop`` is set, close everything.

    TFTP runs in worker processes of its own (:class:`TftpWorkers`): a storm's
    transfers would otherwise hold the interpreter lock the DHCP thread needs
    (the boot-storm benchmark saw DHCP answers seconds late and clients
    resending), and several workers spread a storm's transfers over the CPUs.
    A real WalT server runs dhcpd and tftpd as separate processes too.
    """
    facts = guard.check_interface(config.interface, config.lab, isolated_ack=config.isolated)
    iface = ipaddress.IPv4Interface(facts.addresses[0])
    config.state.mkdir(parents=True, exist_ok=True)
    _log_to(config.state)
    # The registry (schema, WAL mode) is created before the TFTP workers open it:
    # two first openings at once fail with "database is locked".
    registry_path = config.state / "registry.sqlite"
    registry = Registry(registry_path)
    _raise_priority()
    tftp = TftpWorkers(
        str(iface.ip),
        lambda: make_resolver(Registry(registry_path), config.image_root,
                              config.pxe_first_stage),
        config.state / "tftp-transfers.jsonl", config.tftp_workers or default_workers())
    # Forked before any thread of ours starts (a fork copies only the calling thread).
    tftp.start()
    if config.lifeline_fd is not None:
        watch_lifeline(config.lifeline_fd, stop)
    cfg = DhcpConfig.for_network(str(iface.network), str(iface.ip))
    parts: list[DhcpServer | RaResponder | NotificationListener] = [
        DhcpServer(cfg, registry, config.interface), RaResponder(config.interface),
        NotificationListener(str(iface.ip), registry)]
    started: list[DhcpServer | RaResponder | NotificationListener] = []
    try:
        for part in parts:
            part.start()
            started.append(part)
        pids = tftp.pids
        print("READY " + json.dumps({"server_ip": str(iface.ip), "interface": config.interface,
                                     "pid": os.getpid(), "tftp_pid": pids[0], "tftp_pids": pids,
                                     "tftp_lockstep": lockstep_loop(),
                                     "image_id": image_id(config.image_root)}), flush=True)
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


def serve(config: ServeConfig) -> int:
    """Serve in this process until SIGTERM/SIGINT/SIGHUP; the exit code (errors printed)."""
    stop = threading.Event()
    # SIGHUP too: a closed terminal stops the server cleanly (workers included).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(config, stop)
    except (WaltportError, OSError) as err:
        print(f"bench server: {err}", file=sys.stderr, flush=True)
        return getattr(err, "exit_code", 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m waltport.net.serve``: the command line read once, here."""
    return serve(parse_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
