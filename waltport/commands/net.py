"""``waltport serve | devices | capture | analyze``: the bench server and its evidence."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import threading
import time
from pathlib import Path

from waltport.errors import UsageError
from waltport.host.netns import Lab, is_owned
from waltport.net.serveconfig import ServeConfig, positive_int
from waltport.net.server import BenchServer, lab_state_dir
from waltport.util.outdir import check_out_file


def cmd_serve(args: argparse.Namespace) -> int:
    if args.interface:
        if not args.isolated:
            raise UsageError("--interface needs --i-know-this-network-is-isolated (the DHCP "
                             "server answers every client on that link); or use --lab NAME")
        from waltport.net import serve  # noqa: PLC0415

        return serve.serve(ServeConfig(
            args.interface, args.image_root, args.state or lab_state_dir(f"if-{args.interface}"),
            isolated=True, pxe_first_stage=args.pxe_first_stage,
            tftp_workers=args.tftp_workers))
    lab = Lab(args.lab)
    stop = threading.Event()
    # A closed terminal (SIGHUP) stops the server like Ctrl-C, never leaving it behind.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    with BenchServer(lab, args.image_root, pxe_first_stage=args.pxe_first_stage,
                     state=args.state, tftp_workers=args.tftp_workers) as srv:
        print(f"serving lab {lab.name} on {lab.server_ip} (state {srv.state}); "
              "Ctrl-C stops", flush=True)
        while not stop.wait(0.5):
            if not srv.running:
                raise UsageError(f"bench server exited: see {srv.state / 'serve.stderr'}")
    print("bench server stopped")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from waltport.net.registry import Registry  # noqa: PLC0415

    path = (args.state or lab_state_dir(args.lab)) / "registry.sqlite"
    if not path.exists():
        raise UsageError(f"no registry for lab {args.lab} at {path} (has `waltport serve` run?)")
    devices = Registry(path).devices()
    if args.json:
        print(json.dumps([dataclasses.asdict(d) for d in devices], indent=2, sort_keys=True))
        return 0
    print(f"{'NAME':<24} {'TYPE':<8} {'MODEL':<20} {'MAC':<18} IP")
    for d in devices:
        print(f"{d.name:<24} {d.type:<8} {d.model or '-':<20} {d.mac:<18} {d.ip or '-'}")
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    from waltport.net.capture import Capture  # noqa: PLC0415

    netns = None
    if args.lab:
        if not is_owned(args.lab):
            raise UsageError(f"lab {args.lab} is not up")
        netns = Lab(args.lab).netns
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cap = Capture(netns, args.interface, check_out_file(args.out, option="--out")).start()
    print(f"capturing {args.interface} into {args.out} (Ctrl-C stops)", flush=True)
    deadline = time.monotonic() + args.duration if args.duration else None
    while not stop.wait(0.2):
        if deadline and time.monotonic() >= deadline:
            break
    out = cap.stop()
    print(f"wrote {out}: {cap.summary}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from waltport.net import plots  # noqa: PLC0415
    from waltport.net.analysis import analyze_pcap  # noqa: PLC0415

    if not args.pcap.is_file():
        raise UsageError(f"capture {args.pcap} not found")
    a = analyze_pcap(args.pcap, args.model)
    if args.full:
        from waltport.net.decode import decode_pcap  # noqa: PLC0415

        for d in decode_pcap(args.pcap, limit=args.full):
            fields = " ".join(f"{k}={v}" for k, v in d.fields.items())
            print(f"#{d.index} {d.src} > {d.dst} {d.summary}\n    {fields}")
    if args.plots:
        plots.ladder(a, args.plots / "ladder.svg")
        plots.transfer_timeline(a, args.plots / "transfers.svg")
    if args.json:
        print(json.dumps(a.to_json(), indent=2, sort_keys=True))
    else:
        print(f"{args.pcap}: {a.packets} packets, {len(a.dhcp)} DHCP transactions, "
              f"{len(a.tftp)} TFTP transfers")
        for x in a.tftp:
            print(f"  tftp {x.client}:{x.port} {x.file}: {x.bytes} B blksize {x.blksize} "
                  f"window {x.windowsize} {x.duration:.3f} s retrans {x.retransmissions} "
                  f"{'complete' if x.complete else 'incomplete'} {'; '.join(x.errors)}")
        for p in a.phases:
            print(f"  phase {p.name}: {p.end - p.start:.3f} s")
        for v in a.verdicts:
            print(f"  [{'PASS' if v.ok else 'FAIL'}] {v.name}: {v.evidence}")
    return 0 if all(v.ok for v in a.verdicts) else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the bench server (DHCP+TFTP+RA) until Ctrl-C")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--lab", default="walt-lab", help="lab name (default walt-lab)")
    where.add_argument("--interface", help="serve on this interface of the current namespace")
    p.add_argument("--i-know-this-network-is-isolated", action="store_true", dest="isolated")
    p.add_argument("--image-root", type=Path, required=True, help="tree with boot/<model>/")
    p.add_argument("--pxe-first-stage", type=Path, help="served as pxe/walt-x86-undionly.kpxe")
    p.add_argument("--state", type=Path, help="state dir (default <state>/labs/<lab>)")
    p.add_argument("--tftp-workers", type=positive_int, metavar="N",
                   help="TFTP worker processes (default: number of CPUs, at least 2)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("devices", help="list the devices a lab's bench server registered")
    p.add_argument("--lab", default="walt-lab")
    p.add_argument("--state", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("capture", help="passive packet capture (never serves)")
    p.add_argument("--interface", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    p.add_argument("--lab", help="capture inside this lab's server namespace")
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("analyze", help="DHCP/TFTP decoding and verdicts for a capture")
    p.add_argument("pcap", type=Path)
    p.add_argument("--model", help="the WalT model expected (walt.node.<model>)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--plots", type=Path, help="write ladder.svg and transfers.svg here")
    p.add_argument("--full", type=int, nargs="?", const=200, default=0, metavar="N",
                   help="also print scapy's full decoding of the first N DHCP/TFTP "
                        "request packets (default 200; slow on big captures)")
    p.set_defaults(func=cmd_analyze)
