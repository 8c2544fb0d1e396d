"""Captured datagrams -> typed DHCP, TFTP and boot-notification messages: the one decoder.

*Pure* and streaming: :class:`WireDecoder` takes one
:class:`~waltport.net.pcap.UdpRecord` (or one raw frame) at a time, so the
lab's live watch feeds it packet by packet while a board boots and
``waltport analyze`` feeds it a whole capture.  What it keeps between
packets is only what decoding needs: which (client IP, port) pairs asked for
a file (TFTP data and acks run on ephemeral ports) and their block size.

A capture taken before segmentation (a veth, the sender's own side) shows a
UDP GSO super-packet: several whole DATA datagrams back to back in one UDP
packet.  They are split here, and only here, into one :class:`TftpData` each.

Judging (transfers complete or not, stages, verdicts) is left to the callers:
:mod:`waltport.net.analysis` and :mod:`waltport.lab.sequence`.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from waltport.net import dhcp_wire as w
from waltport.net.pcap import DLT_EN10MB, UdpRecord, udp_from_frame
from waltport.walt import NOTIFY_PORT

TFTP_PORT = 69
DEFAULT_BLKSIZE = 512               # RFC 1350, until an OACK says otherwise
RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6
_OP_BLOCK = struct.Struct("!HH")

Flow = tuple[str, int]              # the client's (IP, UDP port): one transfer


# NamedTuples rather than dataclasses: a 200k-packet capture makes one per datagram.
class DhcpPacket(NamedTuple):
    """A well-formed DHCP message between ports 68 and 67 (either way)."""

    rec: UdpRecord
    msg: w.DhcpMessage


class TftpRequest(NamedTuple):
    """A read request to port 69; ``options`` keys are lower case (RFC 2347)."""

    rec: UdpRecord
    flow: Flow
    filename: str                   # as on the wire (latin-1), slashes kept
    options: dict[str, str]
    repeat: bool                    # this client port asked before: a retransmitted RRQ

    @property
    def blksize(self) -> int:
        """The block size asked for (512 when none is)."""
        return _blksize(self.options) or DEFAULT_BLKSIZE


class TftpOack(NamedTuple):
    """The server's option acknowledgement: what it accepted."""

    rec: UdpRecord
    flow: Flow
    options: dict[str, str]


class TftpData(NamedTuple):
    """One DATA datagram from the server (a GSO super-packet gives several)."""

    rec: UdpRecord
    flow: Flow
    block: int                      # as on the wire: 16 bits, wraps
    size: int                       # payload bytes


class TftpAck(NamedTuple):
    """An acknowledgement from the client."""

    rec: UdpRecord
    flow: Flow
    block: int


class TftpError(NamedTuple):
    rec: UdpRecord
    flow: Flow
    code: int
    text: str
    from_server: bool


class TftpOther(NamedTuple):
    """A datagram of a requested transfer that is none of the above (truncated, unknown op)."""

    rec: UdpRecord
    flow: Flow
    from_server: bool


class BootNote(NamedTuple):
    """A datagram to the boot-notification port (validated by the caller if it needs to)."""

    rec: UdpRecord
    text: str                       # ASCII (undecodable bytes replaced), stripped


Message = (DhcpPacket | TftpRequest | TftpOack | TftpData | TftpAck | TftpError | TftpOther
           | BootNote)
_NONE: tuple[Message, ...] = ()


def tftp_options(data: bytes) -> dict[str, str]:
    """NUL-separated ``name\\0value\\0`` pairs; names lower case."""
    parts = data.split(b"\0")
    return {parts[i].decode("latin-1").lower(): parts[i + 1].decode("latin-1")
            for i in range(0, len(parts) - 1, 2) if parts[i]}


def _blksize(options: dict[str, str]) -> int | None:
    value = options.get("blksize", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def split_data(payload: bytes, blksize: int) -> list[tuple[int, int]]:
    """(block, size) of each DATA datagram in ``payload``: one, or a GSO super-packet's.

    A payload longer than one datagram is split only when every piece is a
    DATA header with consecutive block numbers; otherwise it is one datagram.
    """
    first = _OP_BLOCK.unpack_from(payload)[1]
    step = 4 + blksize
    if len(payload) <= step:
        return [(first, len(payload) - 4)]
    out = []
    for n, at in enumerate(range(0, len(payload), step)):
        op, block = _OP_BLOCK.unpack_from(payload, at) if len(payload) - at >= 4 else (0, 0)
        if op != DATA or block != (first + n) & 0xFFFF:
            return [(first, len(payload) - 4)]
        out.append((block, min(step, len(payload) - at) - 4))
    return out


class _Known:
    """A requested transfer: its one flow key (shared by its messages), its block size."""

    __slots__ = ("blksize", "flow")

    def __init__(self, flow: Flow, blksize: int) -> None:
        self.flow = flow
        self.blksize = blksize      # for splitting: the OACK's, else the one asked for


class WireDecoder:
    """Decode datagrams one at a time; remembers the TFTP transfers it saw requested."""

    def __init__(self) -> None:
        self._flows: dict[Flow, _Known] = {}
        self._count = 0

    def feed_frame(self, ts: float, frame: bytes,
                   linktype: int = DLT_EN10MB) -> tuple[Message, ...]:
        """The messages in one captured frame (numbered in the order fed, from 1)."""
        self._count += 1
        rec = udp_from_frame(self._count, ts, frame, linktype)
        return _NONE if rec is None else self.decode(rec)

    def decode(self, r: UdpRecord) -> tuple[Message, ...]:
        """The messages in one UDP datagram (none: not DHCP, TFTP or a notification)."""
        # The hot path of a big capture (DATA and ACK): bytes indexed, no struct, no call.
        p = r.payload
        sport, dport = r.sport, r.dport
        if (sport == 68 and dport == 67) or (sport == 67 and dport == 68):
            try:
                return (DhcpPacket(r, w.parse_dhcp(p)),)
            except w.DhcpParseError:
                return _NONE
        if len(p) >= 2:
            op = p[0] << 8 | p[1]
            if dport == TFTP_PORT and op == RRQ:
                return (self._request(r),)
            known = self._flows.get((r.dst, dport))
            from_server = known is not None
            if known is None:
                known = self._flows.get((r.src, sport))
            if known is not None and TFTP_PORT not in (sport, dport):
                flow, blksize = known.flow, known.blksize
                if len(p) >= 4:
                    if op == DATA and from_server:
                        if len(p) <= 4 + blksize:
                            return (TftpData(r, flow, p[2] << 8 | p[3], len(p) - 4),)
                        return tuple(TftpData(r, flow, block, size)
                                     for block, size in split_data(p, blksize))
                    if op == ACK and not from_server:
                        return (TftpAck(r, flow, p[2] << 8 | p[3]),)
                return self._other(r, op, flow, from_server)
        if dport == NOTIFY_PORT:
            return (BootNote(r, p.decode("ascii", "replace").strip()),)
        return _NONE

    def _request(self, r: UdpRecord) -> TftpRequest:
        fields = r.payload[2:].split(b"\0")
        options = tftp_options(b"\0".join(fields[2:])) if len(fields) > 2 else {}
        flow = (r.src, r.sport)
        repeat = flow in self._flows
        request = TftpRequest(r, flow, fields[0].decode("latin-1"), options, repeat)
        if not repeat:
            self._flows[flow] = _Known(flow, request.blksize)
        return request

    def _other(self, r: UdpRecord, op: int, flow: Flow, from_server: bool) -> tuple[Message]:
        p = r.payload
        if op == OACK and from_server:
            options = tftp_options(p[2:])
            known = self._flows[flow]
            known.blksize = _blksize(options) or known.blksize
            return (TftpOack(r, flow, options),)
        if len(p) >= 4 and op == ERROR:
            return (TftpError(r, flow, p[2] << 8 | p[3], p[4:].split(b"\0")[0].decode("latin-1"),
                              from_server),)
        return (TftpOther(r, flow, from_server),)


def decode_records(records: list[UdpRecord]) -> list[Message]:
    """Every message of a whole capture, in capture order."""
    decode = WireDecoder().decode
    out: list[Message] = []
    for r in records:
        out += decode(r)
    return out
