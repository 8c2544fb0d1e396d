"""A capture small enough to attach: the DHCP/TFTP control packets, the data summarised.

A lab boot's capture is mostly the kernel going by TFTP (30 MB of DATA/ACK)
and the root filesystem by NFS.  What a maintainer reads in it is the DHCP
exchange and the TFTP requests, option acknowledgements and errors.
:func:`trim` keeps every UDP/IPv4 packet except TFTP DATA and ACK, drops the
rest, and summarises what it dropped (each TFTP transfer: file, bytes, blocks,
duration; other traffic by count).  Packet numbers in the report's evidence
refer to the original capture: the summary lists the original number of every
packet kept.  :func:`trim_file` is the edge (bytes of a file in, bytes out).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dpkt

from waltport.net.analysis import tftp_transfers
from waltport.net.pcap import PcapError, UdpRecord, udp_from_frame

TFTP_DATA, TFTP_ACK = 3, 4


@dataclass(frozen=True)
class Trimmed:
    """The trimmed capture (pcap bytes) and what was left out of it."""

    pcap: bytes
    summary: dict[str, Any]


def _tftp_flows(records: Iterable[UdpRecord]) -> set[tuple[str, int]]:
    # A transfer runs between the client's port of its request and a server
    # port chosen for it: the client side is the one key both directions share.
    return {(r.src, r.sport) for r in records
            if r.dport == 69 and len(r.payload) >= 2 and r.payload[1] in (1, 2)}


def _is_tftp_data(r: UdpRecord, flows: set[tuple[str, int]]) -> bool:
    if r.sport == 69 or r.dport == 69 or len(r.payload) < 4:
        return False
    if (r.src, r.sport) not in flows and (r.dst, r.dport) not in flows:
        return False
    return struct.unpack_from("!H", r.payload)[0] in (TFTP_DATA, TFTP_ACK)


def trim(frames: list[tuple[float, bytes]], linktype: int, *, name: str = "") -> Trimmed:
    """Pure: frames of a capture -> the control packets as pcap bytes, and the summary."""
    records = [udp_from_frame(i, ts, f, linktype) for i, (ts, f) in enumerate(frames, start=1)]
    udp = [r for r in records if r is not None]
    flows = _tftp_flows(udp)
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, linktype=linktype, nano=False)
    kept: list[int] = []
    dropped = {"TFTP DATA/ACK": 0, "not UDP/IPv4 (TCP/NFS, ARP, IPv6...)": 0}
    dropped_bytes = dict.fromkeys(dropped, 0)
    for (ts, frame), rec in zip(frames, records, strict=True):
        kind = ("not UDP/IPv4 (TCP/NFS, ARP, IPv6...)" if rec is None
                else "TFTP DATA/ACK" if _is_tftp_data(rec, flows) else None)
        if kind is None and rec is not None:
            writer.writepkt(frame, ts=ts)
            kept.append(rec.index)
        elif kind is not None:
            dropped[kind] += 1
            dropped_bytes[kind] += len(frame)
    transfers = []
    for t in tftp_transfers(udp):
        row = asdict(t)
        row["duration"] = round(t.duration, 3)
        row["start"], row["end"] = round(t.start, 6), round(t.end, 6)
        transfers.append(row)
    summary = {"capture": name, "packets": len(frames), "kept": len(kept),
               "kept_packet_numbers": kept,
               "dropped": [{"what": k, "packets": v, "bytes": dropped_bytes[k]}
                           for k, v in dropped.items() if v],
               "tftp_transfers": transfers}
    return Trimmed(out.getvalue(), summary)


def read_frames(data: bytes, source: str) -> tuple[list[tuple[float, bytes]], int]:
    """Pure: the frames and link type of pcap/pcapng bytes."""
    f = io.BytesIO(data)
    try:
        reader = dpkt.pcapng.Reader(f) if data[:4] == b"\x0a\x0d\x0d\x0a" \
            else dpkt.pcap.Reader(f)
        return [(float(ts), bytes(buf)) for ts, buf in reader], reader.datalink()
    except (ValueError, struct.error, dpkt.dpkt.Error) as err:
        raise PcapError(f"{source}: not a readable pcap/pcapng capture: {err}") from err


def trim_file(path: Path, name: str) -> Trimmed:
    """Edge: read ``path`` and trim it (``name``: how the summary names it)."""
    frames, linktype = read_frames(path.read_bytes(), name)
    return trim(frames, linktype, name=name)
