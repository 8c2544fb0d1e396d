"""Captures -> evidence: DHCP transactions, TFTP transfers, verdicts, phase times.

``analyze`` is pure over :class:`~waltport.net.pcap.UdpRecord` values, decoded
by :mod:`waltport.net.wire` (the decoder the lab's boot sequence uses too);
``analyze_pcap`` reads the file at the edge.  Verdicts name the packets they
rest on, so a maintainer can check them in Wireshark.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from waltport.net.notify import NotificationError, parse_notification
from waltport.net.pcap import UdpRecord, read_udp_records
from waltport.net.wire import (
    DEFAULT_BLKSIZE,
    BootNote,
    DhcpPacket,
    Flow,
    Message,
    TftpAck,
    TftpData,
    TftpError,
    TftpOack,
    TftpOther,
    TftpRequest,
    decode_records,
)
from waltport.walt import WALT_PREFIX

FIRST_STAGE_SCRIPTS = ("start.uboot", "start.ipxe")


@dataclass(frozen=True)
class DhcpRecord:
    index: int
    time: float
    xid: int
    mac: str
    type: str
    src: str
    dst: str
    vci: str | None
    uci: str | None
    params: tuple[int, ...]
    arch: int | None
    yiaddr: str
    siaddr: str
    file: str


@dataclass(frozen=True)
class DhcpTransaction:
    """Messages sharing one xid (and client MAC), in capture order."""

    xid: int
    mac: str
    messages: tuple[DhcpRecord, ...]

    @property
    def client_ids(self) -> tuple[str, ...]:
        return tuple(sorted({i for m in self.messages if m.src != "server"
                             for i in (m.vci, m.uci) if i}))

    @property
    def acked_ip(self) -> str | None:
        return next((m.yiaddr for m in self.messages if m.type == "ACK"), None)


@dataclass(frozen=True)
class TftpTransfer:
    client: str
    port: int
    file: str
    start: float
    end: float
    bytes: int
    blocks: int
    blksize: int
    windowsize: int
    tsize: int | None
    retransmissions: int
    complete: bool
    errors: tuple[str, ...]
    rrq_index: int

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool
    evidence: str


@dataclass(frozen=True)
class Phase:
    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Analysis:
    packets: int
    t0: float
    model: str | None
    dhcp: tuple[DhcpTransaction, ...]
    tftp: tuple[TftpTransfer, ...]
    verdicts: tuple[Verdict, ...]
    phases: tuple[Phase, ...]
    notifications: tuple[tuple[float, str], ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        """Plain JSON values; times relative to ``t0`` (the first packet), in seconds."""
        def rel(t: float) -> float:
            return round(t - self.t0, 6)
        return {
            "packets": self.packets, "model": self.model,
            "dhcp": [{"xid": f"0x{t.xid:08x}", "mac": t.mac, "client_ids": list(t.client_ids),
                      "messages": [{**asdict(m), "time": rel(m.time), "params": list(m.params)}
                                   for m in t.messages]} for t in self.dhcp],
            "tftp": [{**asdict(x), "start": rel(x.start), "end": rel(x.end),
                      "duration": round(x.duration, 6), "errors": list(x.errors)}
                     for x in self.tftp],
            "verdicts": [asdict(v) for v in self.verdicts],
            "phases": [{"name": p.name, "start": rel(p.start), "end": rel(p.end),
                        "duration": round(p.end - p.start, 6)} for p in self.phases],
            "notifications": [{"time": rel(t), "text": s} for t, s in self.notifications],
        }


def dhcp_records(msgs: Sequence[Message]) -> list[DhcpRecord]:
    """Every decodable DHCP message on ports 67/68 (malformed ones are skipped)."""
    return [DhcpRecord(x.rec.index, x.rec.time, x.msg.xid, x.msg.chaddr, x.msg.msg_name,
                       "client" if x.msg.op == 1 else "server", x.rec.dst, x.msg.vci,
                       x.msg.uci, x.msg.params, x.msg.arch, x.msg.yiaddr, x.msg.siaddr,
                       x.msg.file)
            for x in msgs if isinstance(x, DhcpPacket)]


def dhcp_transactions(msgs: list[DhcpRecord]) -> tuple[DhcpTransaction, ...]:
    groups: dict[tuple[int, str], list[DhcpRecord]] = {}
    for m in msgs:
        groups.setdefault((m.xid, m.mac), []).append(m)
    return tuple(DhcpTransaction(x, mac, tuple(ms)) for (x, mac), ms in groups.items())


@dataclass
class _Flow:
    """One transfer while it is followed (mutable; frozen into a :class:`TftpTransfer`)."""

    request: TftpRequest
    end: float
    oack: dict[str, str] = field(default_factory=dict)
    blksize: int = DEFAULT_BLKSIZE  # the OACK's: a shorter DATA block is the last
    seen: set[int] = field(default_factory=set)
    top: int = 0                    # highest absolute block number seen
    bytes: int = 0
    retrans: int = 0
    last: int | None = None         # absolute number of the short (last) block
    acked_last: bool = False
    errors: list[str] = field(default_factory=list)

    def transfer(self) -> TftpTransfer:
        (client, port), tsize = self.request.flow, self.oack.get("tsize")
        return TftpTransfer(
            client, port, self.request.filename, self.request.rec.time, self.end, self.bytes,
            len(self.seen), self.blksize,
            int(self.oack.get("windowsize", 1)), int(tsize) if tsize and tsize.isdigit() else None,
            self.retrans, self.last is not None and self.acked_last and len(self.seen) == self.last,
            tuple(self.errors), self.request.rec.index)


def transfers(msgs: Sequence[Message]) -> tuple[TftpTransfer, ...]:
    """Follow each RRQ (client ip, port) through OACK/DATA/ACK/ERROR to its end."""
    flows: dict[Flow, _Flow] = {}
    for x in msgs:                  # most frequent first: a big capture is DATA and ACK
        if isinstance(x, TftpData):
            f = flows[x.flow]
            f.end = x.rec.time
            # The absolute block number nearest the highest seen (numbers wrap at 65536).
            n = f.top + (((x.block - f.top + 0x8000) & 0xFFFF) - 0x8000)
            if n in f.seen:
                f.retrans += 1
            else:
                f.seen.add(n)
                f.bytes += x.size
            f.top = max(f.top, n)
            if x.size < f.blksize:
                f.last = n
        elif isinstance(x, TftpAck):
            f = flows[x.flow]
            f.end = x.rec.time
            if f.last is not None and x.block == f.last & 0xFFFF:
                f.acked_last = True
        elif isinstance(x, TftpRequest):
            if x.repeat:
                flows[x.flow].retrans += 1
            else:
                flows[x.flow] = _Flow(x, x.rec.time)
        elif isinstance(x, TftpOack | TftpError | TftpOther):
            f = flows[x.flow]
            f.end = x.rec.time
            if isinstance(x, TftpOack):
                f.oack = x.options
                f.blksize = int(x.options.get("blksize", DEFAULT_BLKSIZE))
            elif isinstance(x, TftpError):
                f.errors.append(f"{'server' if x.from_server else 'client'} error "
                                f"{x.code}: {x.text}")
    return tuple(f.transfer() for f in flows.values())


def tftp_transfers(records: list[UdpRecord]) -> tuple[TftpTransfer, ...]:
    """The TFTP transfers of a capture's UDP records."""
    return transfers(decode_records(records))


def _basename(path: str) -> str:
    return path.strip("/").rsplit("/", 1)[-1]


def analyze(records: list[UdpRecord], packets: int, model: str | None = None) -> Analysis:
    """Decode DHCP/TFTP, then judge: identifier, first-stage script, phase times."""
    t0 = min((r.time for r in records), default=0.0)
    msgs = decode_records(records)
    dhcp = dhcp_transactions(dhcp_records(msgs))
    tftp = transfers(msgs)
    want = f"{WALT_PREFIX}{model}" if model else None
    node_tx = [t for t in dhcp if any(
        (i == want) if want else i.startswith(WALT_PREFIX) for i in t.client_ids)]
    macs = {t.mac for t in node_tx}
    ips = {t.acked_ip for t in dhcp if t.mac in macs and t.acked_ip}
    verdicts = []
    if node_tx:
        t = node_tx[0]
        first = next(m for m in t.messages if m.src == "client")
        verdicts.append(Verdict("dhcp-identifier", True,
                                f"packet {first.index}: xid 0x{t.xid:08x} from {t.mac} "
                                f"carries {', '.join(t.client_ids)}"))
    else:
        seen = sorted({i for t in dhcp for i in t.client_ids})
        verdicts.append(Verdict("dhcp-identifier", False,
                                f"no DHCP request carries {want or 'walt.node.<model>'}; "
                                f"identifiers seen: {', '.join(seen) or 'none'}"))
    scripts = [x for x in tftp if _basename(x.file) in FIRST_STAGE_SCRIPTS
               and (not ips or x.client in ips)]
    done = [x for x in scripts if x.complete]
    if done:
        x = done[0]
        verdicts.append(Verdict("first-stage-script", True,
                                f"packet {x.rrq_index}: {x.client} read {x.file}, {x.bytes} "
                                f"bytes in {x.blocks} blocks, last block acknowledged"))
    else:
        verdicts.append(Verdict("first-stage-script", False, (
            f"{scripts[0].file} requested by {scripts[0].client} but not fully transferred"
            f" ({'; '.join(scripts[0].errors) or 'no final ACK'})") if scripts
            else "no start.uboot / start.ipxe requested"))
    notes = []
    for note in msgs:
        if isinstance(note, BootNote):
            r = note.rec
            try:
                n = parse_notification(r.payload)
            except NotificationError:
                continue
            notes.append((r.time, note.text))
            if model is None or n.model == model:
                verdicts.append(Verdict("boot-notification", True,
                                        f"packet {r.index}: {n.model} {n.mac} {n.ip} booted"))
    phases = []
    for t in sorted(node_tx or dhcp, key=lambda t: t.messages[0].time):
        ack = next((m for m in t.messages if m.type == "ACK"), None)
        if ack:
            phases.append(Phase(f"dhcp 0x{t.xid:08x}", t.messages[0].time, ack.time))
    for x in tftp:
        if not ips or x.client in ips:
            phases.append(Phase(f"tftp {x.file}", x.start, x.end))
    if notes and phases:
        phases.append(Phase("until boot notification", phases[0].start, notes[0][0]))
    return Analysis(packets, t0, model, dhcp, tftp, tuple(verdicts), tuple(phases), tuple(notes))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # Reading and decoding a capture makes two objects per packet (a record and
    # its message) and no reference cycle; left running, the cyclic collector
    # walks them again and again (a third of the time on a 200k-packet capture).
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def analyze_pcap(path: Path, model: str | None = None) -> Analysis:
    """Read ``path`` (pcap/pcapng) and analyse it."""
    with _collector_paused():
        records, count = read_udp_records(Path(path))
        return analyze(records, count, model)
