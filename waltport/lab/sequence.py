"""Per-stage timing of a netboot, from evidence: pcap packets, console lines, registry.

Pure functions: packets and lines in, stage times (seconds since power-on)
out.  The stages, in order::

    power_on -> first_dhcp -> walt_dhcp -> second_stage_fetched
             -> kernel_fetched -> kernel_started -> userspace
             [-> image_userspace -> ssh_login]   (image root with /sbin/init, NFS)

A stage that was not reached has ``time=None``; the first such stage is the
one that failed.
"""

from __future__ import annotations

import io
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import dpkt

STAGES = ("power_on", "first_dhcp", "walt_dhcp", "second_stage_fetched", "kernel_fetched",
          "kernel_started", "userspace", "image_userspace", "ssh_login")
# Only for an image root with its own init (served over NFS): the image's init
# printed its marker, then an SSH login from the client namespace succeeded.
IMAGE_STAGES = ("image_userspace", "ssh_login")
IMAGE_INIT_RE = re.compile(r"WALTPORT-IMAGE-INIT model=\S*")
NFSROOT_RE = re.compile(r"WALTPORT-NFSROOT-(OK|FAILED)[^\n]*")
KERNEL_START_RE = re.compile(r"Starting kernel \.\.\.|Booting Linux on physical CPU|"
                             r"Linux version \d")
# The init's own marker can be split by kernel output on a busy console; the
# notification line is printed by the kernel (netconsole path) in one piece.
USERSPACE_RE = re.compile(r"WALTPORT-BOOTED model=\S* mac=\S* ip=\S*|WALTPORT-USERSPACE-OK")
WALT_PREFIX = "walt.node."


@dataclass(frozen=True)
class DhcpSeen:
    time: float                 # wall clock (pcap)
    msg_type: int
    vci: str | None
    uci: str | None


@dataclass(frozen=True)
class TftpSeen:
    start: float
    end: float
    filename: str               # as requested, leading slashes removed
    bytes: int
    complete: bool              # a DATA block shorter than the block size was seen


@dataclass(frozen=True)
class Stage:
    name: str
    time: float | None          # seconds since power-on; None: not reached
    evidence: dict[str, object] = field(default_factory=dict)


def _text(raw: bytes) -> str:
    return raw.decode("ascii", "replace")


def _uci(raw: bytes) -> str:
    # RFC 3004 user classes are length-prefixed; iPXE sends the bare string.
    if raw and raw[0] == len(raw) - 1 and raw[0] < 32:
        raw = raw[1:]
    return _text(raw)


def parse_pcap(data: bytes, mac: str) -> tuple[list[DhcpSeen], list[TftpSeen]]:
    """DHCP messages from ``mac`` and TFTP transfers to it, from a pcap file's bytes."""
    mac_b = bytes.fromhex(mac.replace(":", ""))
    dhcp: list[DhcpSeen] = []
    flows: dict[int, dict[str, object]] = {}
    client_ip: bytes | None = None
    if not data:
        return [], []
    for ts, frame in dpkt.pcap.Reader(io.BytesIO(data)):
        eth = dpkt.ethernet.Ethernet(frame)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.udp.UDP):
            continue
        udp = ip.data
        if udp.dport == 67 and eth.src == mac_b:
            try:
                msg = dpkt.dhcp.DHCP(udp.data)
            except (dpkt.UnpackError, ValueError):
                continue
            opts = dict(msg.opts)
            mtype = opts.get(53, b"\0")[0]
            dhcp.append(DhcpSeen(ts, mtype, _text(opts[60]) if 60 in opts else None,
                                 _uci(opts[77]) if 77 in opts else None))
        elif udp.dport == 69 and eth.src == mac_b and udp.data[:2] == b"\0\1":
            client_ip = ip.src
            name = _text(udp.data[2:].split(b"\0")[0]).lstrip("/")
            flows[udp.sport] = {"start": ts, "end": ts, "name": name, "blocks": {},
                                "short": False, "blksize": 512}
            opts = udp.data[2:].split(b"\0")[2:]
            for key, value in zip(opts[::2], opts[1::2], strict=False):
                if key.lower() == b"blksize" and value.isdigit():
                    flows[udp.sport]["blksize"] = int(value)
        elif ip.dst == client_ip and udp.dport in flows and udp.data[:2] == b"\0\3":
            flow = flows[udp.dport]
            block = int.from_bytes(udp.data[2:4], "big")
            payload = len(udp.data) - 4
            flow["blocks"][block] = payload  # type: ignore[index]
            flow["end"] = ts
            if payload < int(flow["blksize"]):  # type: ignore[call-overload]
                flow["short"] = True
        elif ip.src == client_ip and udp.sport in flows and udp.data[:2] == b"\0\4":
            flows[udp.sport]["end"] = ts
    tftp = [TftpSeen(float(f["start"]), float(f["end"]), str(f["name"]),  # type: ignore[arg-type]
                     sum(f["blocks"].values()), bool(f["short"]))  # type: ignore[attr-defined]
            for f in flows.values()]
    return dhcp, sorted(tftp, key=lambda t: t.start)


def _rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 3)


def _last_complete(tftp: Sequence[TftpSeen], name: str,
                   served: Mapping[str, int]) -> TftpSeen | None:
    # A capture can drop packets (the last block among them); the server's own
    # transfer log then says whether the transfer completed.
    done = [t for t in tftp if t.filename == name and (t.complete or name in served)]
    return done[-1] if done else None


def compute_stages(*, t0_wall: float, model: str, identifier: str, second_stage: str,
                   kernel: str, initrd: str | None, dhcp: Sequence[DhcpSeen],
                   tftp: Sequence[TftpSeen], console: Iterable[tuple[float, str]],
                   booted_wall: float | None,
                   served: Mapping[str, int] | None = None,
                   login: Mapping[str, object] | None = None) -> list[Stage]:
    """Every stage with its time and evidence.

    ``t0_wall`` is QEMU's start (wall clock, like pcap and registry times);
    ``console`` gives (seconds since QEMU start, line); ``identifier`` is
    ``vci`` or ``uci``; ``booted_wall`` is the registry's ``booted`` event time;
    ``served`` maps file names the server logged as sent whole to their size.
    ``login`` (image roots served over NFS) has the SSH login's ``time``
    (seconds since QEMU start, None: failed), ``command`` and ``output``; the
    stages ``image_userspace`` and ``ssh_login`` are added only with it.
    """
    served = served or {}
    wanted = WALT_PREFIX + model
    stages = [Stage("power_on", 0.0)]
    first = dhcp[0] if dhcp else None
    stages.append(Stage("first_dhcp", _rel(first.time, t0_wall) if first else None,
                        {"vci": first.vci, "uci": first.uci} if first else {}))
    walt = next((d for d in dhcp if (d.uci if identifier == "uci" else d.vci) == wanted), None)
    stages.append(Stage("walt_dhcp", _rel(walt.time, t0_wall) if walt else None,
                        {identifier: wanted, "seen_on_wire": walt is not None,
                         "vci": walt.vci if walt else None, "uci": walt.uci if walt else None}))
    for stage_name, file in (("second_stage_fetched", second_stage), ("kernel_fetched", kernel)):
        got = _last_complete(tftp, file, served)
        size = served.get(file, got.bytes if got else None)
        ev: dict[str, object] = {"file": file, "bytes": size}
        if got:
            ev["bytes_captured"] = got.bytes
        if stage_name == "kernel_fetched" and initrd:
            ird = _last_complete(tftp, initrd, served)
            ev["initrd_bytes"] = served.get(initrd, ird.bytes if ird else None)
            if got and ird:
                got = max(got, ird, key=lambda t: t.end)
            elif not ird:
                got = None
        stages.append(Stage(stage_name, _rel(got.end, t0_wall) if got else None, ev))
    lines = list(console)
    start = next(((t, ln) for t, ln in lines if KERNEL_START_RE.search(ln)), None)
    stages.append(Stage("kernel_started", round(start[0], 3) if start else None,
                        {"line": start[1]} if start else {}))
    found = [(t, ln) for t, ln in lines if USERSPACE_RE.search(ln)]
    marker = next(((t, ln) for t, ln in found if "WALTPORT-BOOTED" in ln),
                  found[0] if found else None)
    ev = {"marker": marker[1] if marker else None, "notification": booted_wall is not None}
    when = _rel(booted_wall, t0_wall) if booted_wall is not None else None
    stages.append(Stage("userspace", when if marker else None, ev))
    if login is not None:
        stages += _image_stages(lines, login)
    return _monotone(stages)


def _image_stages(lines: Sequence[tuple[float, str]],
                  login: Mapping[str, object]) -> list[Stage]:
    nfs = next((ln for _, ln in lines if NFSROOT_RE.search(ln)), None)
    init = next(((t, ln) for t, ln in lines if IMAGE_INIT_RE.search(ln)), None)
    ev: dict[str, object] = {"nfsroot": nfs.strip() if nfs else None,
                             "marker": init[1].strip() if init else None}
    t = login.get("time")
    return [Stage("image_userspace", round(init[0], 3) if init else None, ev),
            Stage("ssh_login", round(float(t), 3) if isinstance(t, (int, float)) else None,
                  {k: v for k, v in login.items() if k != "time"})]


def _monotone(stages: list[Stage]) -> list[Stage]:
    # A stage counts as reached only if every stage before it was.
    out: list[Stage] = []
    reached = True
    for s in stages:
        reached = reached and s.time is not None
        out.append(s if reached else Stage(s.name, None, s.evidence))
    return out


def failed_stage(stages: Sequence[Stage]) -> str | None:
    """The first stage not reached (None: all were)."""
    return next((s.name for s in stages if s.time is None), None)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def stage_statistics(runs: Sequence[Sequence[Stage]]) -> dict[str, dict[str, float | int]]:
    """Per stage over the runs that reached it: count, median and p95 (seconds)."""
    out: dict[str, dict[str, float | int]] = {}
    for name in STAGES:
        times = [s.time for run in runs for s in run if s.name == name and s.time is not None]
        if times:
            out[name] = {"count": len(times), "median": round(statistics.median(times), 3),
                         "p95": round(percentile(times, 95), 3)}
    return out
