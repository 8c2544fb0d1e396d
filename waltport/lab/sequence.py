"""The boot sequence of a board under test, from evidence: wire, console, server registry.

Pure: packets and lines in, stages out.  The same sequence for every target
(a QEMU board in the lab, a real board on a bench, a passive capture)::

    power_on -> first_dhcp -> walt_dhcp -> second_stage_fetched
             -> kernel_fetched -> kernel_started -> userspace
             [-> image_userspace -> ssh_login]   (image root with /sbin/init, NFS)

Each stage is *reached* (with its time in seconds since power-on), *missed*
(the first missed one is the failed stage), *not observable with this bench*
(e.g. ``kernel_started`` without a console: never counted as passed) or
*needs the board* (a stand-in run cannot show it).  Wire stages come from the
capture (:class:`WireWatch`, fed packet by packet while the board boots),
``kernel_started`` and ``image_userspace`` from the console, ``userspace``
from the boot notification (the server's registry, or the datagram on the
wire), ``ssh_login`` from the login attempt.
"""

from __future__ import annotations

import io
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import dpkt

from waltport.net.pcap import DLT_EN10MB
from waltport.net.wire import (
    BootNote,
    DhcpPacket,
    Flow,
    Message,
    TftpAck,
    TftpData,
    TftpRequest,
    WireDecoder,
)
from waltport.walt import NOTIFY_PREFIX, USERSPACE_MARKER, WALT_PREFIX

STAGES = ("power_on", "first_dhcp", "walt_dhcp", "second_stage_fetched", "kernel_fetched",
          "kernel_started", "userspace", "image_userspace", "ssh_login")
# Only for an image root with its own init (served over NFS): the image's init
# printed its marker, then an SSH login from the client namespace succeeded.
IMAGE_STAGES = ("image_userspace", "ssh_login")
# What a stand-in (a virtual U-Boot given the real board's variables) cannot show.
BOARD_STAGES = ("kernel_fetched", "kernel_started", "userspace", *IMAGE_STAGES)
CONSOLE_STAGES = ("kernel_started", "image_userspace")
REACHED, MISSED, UNOBSERVABLE, NEEDS_BOARD = ("reached", "missed", "not observable",
                                              "needs the board")
IMAGE_INIT_RE = re.compile(r"WALTPORT-IMAGE-INIT model=\S*")
NFSROOT_RE = re.compile(r"WALTPORT-NFSROOT-(OK|FAILED)[^\n]*")
KERNEL_START_RE = re.compile(r"Starting kernel \.\.\.|Booting Linux on physical CPU|"
                             r"Linux version \d")
# The init's own marker can be split by kernel output on a busy console; the
# notification line is printed by the kernel (netconsole path) in one piece.
USERSPACE_RE = re.compile(re.escape(NOTIFY_PREFIX) + r" model=\S* mac=\S* ip=\S*|"
                          + re.escape(USERSPACE_MARKER))


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
    on_wire: bool = True        # False: only the server's transfer log has it (the
                                # capture lost the request)


def with_logged(wire: Sequence[TftpSeen], logged: Sequence[TftpSeen]) -> list[TftpSeen]:
    """The captured transfers, plus the ones the server logged whole whose request the
    capture lost (a file seen on the wire at all is taken from the wire). *Pure.*"""
    seen = {t.filename for t in wire}
    return sorted([*wire, *(t for t in logged if t.filename not in seen)],
                  key=lambda t: t.start)


@dataclass(frozen=True)
class Stage:
    name: str
    time: float | None          # seconds since power-on; None: not reached
    evidence: dict[str, object] = field(default_factory=dict)
    status: str = ""            # reached | missed | not observable | needs the board
    reason: str = ""            # why a stage is not observable / needs the board

    @property
    def skipped(self) -> bool:
        return self.status in (UNOBSERVABLE, NEEDS_BOARD)


@dataclass
class _Fetch:
    """One file the board asked for, while it is followed."""

    start: float
    name: str
    blksize: int                            # as requested: a shorter DATA block is the last
    end: float = 0.0
    blocks: dict[int, int] = field(default_factory=dict)   # block number -> payload bytes
    short: bool = False


class WireWatch:
    """DHCP from the board, TFTP to it and its boot notification, fed one frame at a time.

    ``mac`` None: the board is the first client that sends a DHCP request
    (a bench cable carries only the board).  Frames are decoded by
    :class:`waltport.net.wire.WireDecoder`; this class keeps the board's part.
    """

    def __init__(self, mac: str | None, linktype: int = DLT_EN10MB) -> None:
        self.mac = mac.lower() if mac else None
        self.linktype = linktype
        self.dhcp: list[DhcpSeen] = []
        self.notification: tuple[float, str] | None = None
        self._decoder = WireDecoder()
        self._fetches: dict[Flow, _Fetch] = {}

    def feed(self, ts: float, frame: bytes) -> None:
        for msg in self._decoder.feed_frame(ts, frame, self.linktype):
            self._see(msg)

    def _see(self, msg: Message) -> None:
        rec = msg.rec
        board = self.mac is not None and rec.src_mac == self.mac
        if isinstance(msg, DhcpPacket):
            if rec.dport == 67 and (self.mac is None or board):
                self.mac = self.mac or rec.src_mac
                self.dhcp.append(DhcpSeen(rec.time, msg.msg.msg_type or 0, msg.msg.vci,
                                          msg.msg.uci))
        elif isinstance(msg, TftpRequest):
            if board:
                self._fetches[msg.flow] = _Fetch(rec.time, msg.filename.lstrip("/"),
                                                 msg.blksize, rec.time)
        elif isinstance(msg, TftpData):
            fetch = self._fetches.get(msg.flow)
            if fetch is not None and not board:
                fetch.blocks[msg.block] = msg.size
                fetch.short = fetch.short or msg.size < fetch.blksize
                fetch.end = rec.time
        elif isinstance(msg, TftpAck):
            fetch = self._fetches.get(msg.flow)
            if fetch is not None and board:
                fetch.end = rec.time
        elif isinstance(msg, BootNote) and board and self.notification is None:
            self.notification = (rec.time, msg.text)

    @property
    def tftp(self) -> list[TftpSeen]:
        out = [TftpSeen(f.start, f.end, f.name, sum(f.blocks.values()), f.short)
               for f in self._fetches.values()]
        return sorted(out, key=lambda t: t.start)


def parse_pcap(data: bytes, mac: str | None) -> tuple[list[DhcpSeen], list[TftpSeen]]:
    """DHCP messages from ``mac`` and TFTP transfers to it, from a pcap file's bytes."""
    if not data:
        return [], []
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    watch = WireWatch(mac, reader.datalink())
    for ts, frame in reader:
        watch.feed(ts, frame)
    return watch.dhcp, watch.tftp


def _rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 3)


def _last_complete(tftp: Sequence[TftpSeen], name: str,
                   served: Mapping[str, int]) -> TftpSeen | None:
    # A capture can drop packets (the last block among them); the server's own
    # transfer log then says whether the transfer completed.
    done = [t for t in tftp if t.filename == name and (t.complete or name in served)]
    return done[-1] if done else None


@dataclass(frozen=True)
class Observability:
    """What this bench can see: a console, the image stages, a stand-in's limits (pure)."""

    console: str | None = None          # why there is no console (None: there is one)
    login: str | None = None            # why no SSH login is tried (None: it is)
    stand_in: str | None = None         # the stand-in's description (None: the real board)
    image_stages: bool = False          # the image's own init and login are part of the boot
    board_stages: tuple[str, ...] = BOARD_STAGES   # what a stand-in cannot show

    def skip(self, name: str) -> tuple[str, str] | None:
        """(status, reason) when stage ``name`` cannot be observed here, else None."""
        if self.stand_in and name in self.board_stages:
            return NEEDS_BOARD, f"needs the board: {self.stand_in}"
        if self.console and name in CONSOLE_STAGES:
            return UNOBSERVABLE, f"not observable with this bench: {self.console}"
        if self.login and name == "ssh_login":
            return UNOBSERVABLE, f"not observable with this bench: {self.login}"
        return None


def compute_stages(*, t0_wall: float, model: str, identifier: str, second_stage: str,
                   kernel: str, initrd: str | None, dhcp: Sequence[DhcpSeen],
                   tftp: Sequence[TftpSeen], console: Iterable[tuple[float, str]],
                   booted_wall: float | None,
                   served: Mapping[str, int] | None = None,
                   login: Mapping[str, object] | None = None,
                   notification: tuple[float, str] | None = None,
                   seen: Observability | None = None) -> list[Stage]:
    """Every stage with its status, time and evidence.

    ``t0_wall`` is power-on (wall clock, like pcap and registry times);
    ``console`` gives (seconds since power-on, line); ``identifier`` is
    ``vci`` or ``uci``; ``booted_wall`` is the registry's ``booted`` event
    time, ``notification`` the boot datagram seen on the wire (time, text);
    ``served`` maps file names the server logged as sent whole to their size.
    ``login`` has the SSH login's ``time`` (seconds since power-on, None:
    failed), ``command`` and ``output``.  The image stages are added when
    ``seen.image_stages`` (or ``login`` is given).
    """
    served = served or {}
    seen = seen or Observability(image_stages=login is not None)
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
        if got and not got.on_wire:
            ev["seen_on_wire"] = False      # the server's transfer log says it was sent whole
        elif got:
            ev["bytes_captured"] = got.bytes
        if got and stage_name == "second_stage_fetched":
            # A request after the script proves U-Boot/iPXE ran it (from the wire, or
            # from the server's log when the capture lost the request).
            ev["then_requested"] = [t.filename for t in tftp if t.start > got.end]
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
    stages.append(_userspace(lines, t0_wall, booted_wall, notification))
    if seen.image_stages or login is not None:
        stages += _image_stages(lines, login or {})
    return _monotone([_judge(s, seen) for s in stages])


def _userspace(lines: Sequence[tuple[float, str]], t0_wall: float, booted_wall: float | None,
               notification: tuple[float, str] | None) -> Stage:
    found = [(t, ln) for t, ln in lines if USERSPACE_RE.search(ln)]
    marker: str | None = next((ln for _, ln in found if NOTIFY_PREFIX in ln),
                              found[0][1] if found else None)
    if marker is None and notification is not None:
        marker = notification[1]                # no console: the datagram is the marker
    when = booted_wall if booted_wall is not None else \
        notification[0] if notification is not None else None
    ev: dict[str, object] = {"marker": marker, "notification": when is not None}
    if notification is not None:
        ev["notification_on_wire"] = notification[1]
    return Stage("userspace", _rel(when, t0_wall) if marker else None, ev)


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


def _judge(stage: Stage, seen: Observability) -> Stage:
    skip = seen.skip(stage.name)
    if skip is not None:
        return Stage(stage.name, None, stage.evidence, *skip)
    return Stage(stage.name, stage.time, stage.evidence,
                 REACHED if stage.time is not None else MISSED)


def _monotone(stages: list[Stage]) -> list[Stage]:
    # A stage counts as reached only if every observable stage before it was;
    # one that cannot be observed neither passes nor breaks the chain.
    out: list[Stage] = []
    reached = True
    for s in stages:
        if s.skipped:
            out.append(s)
            continue
        reached = reached and s.time is not None
        out.append(s if reached else Stage(s.name, None, s.evidence, MISSED))
    return out


def failed_stage(stages: Sequence[Stage]) -> str | None:
    """The first stage missed (None: every observable one was reached)."""
    return next((s.name for s in stages if s.time is None and not s.skipped), None)


def last_observable(stages: Sequence[Stage]) -> str | None:
    """The name of the last stage this bench can observe."""
    names = [s.name for s in stages if not s.skipped]
    return names[-1] if names else None


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
