"""Full decoding of DHCP/TFTP packets with scapy: the slow, complete path.

The analysis and the lab's boot sequence read captures through the one fast
decoder, :mod:`waltport.net.wire`, and only the fields they judge. This
module (``waltport analyze --full``) lets a porter read *everything* scapy
knows about the first packets of a capture (every DHCP option by name, TFTP
opcodes and options), and lets the tests cross-check the fast decoder
against an independent one: on purpose a second decoder, never a source of
verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from waltport.errors import WaltportError

PORTS = frozenset({67, 68, 69})


class DecodeError(WaltportError):
    """The capture could not be read."""

    exit_code = 2


@dataclass(frozen=True)
class DecodedPacket:
    """One DHCP or TFTP packet as scapy decodes it."""

    index: int                      # 1-based, as in tshark/wireshark
    time: float
    src: str
    dst: str
    summary: str                    # scapy's one-line summary
    protocol: str                   # "dhcp" | "tftp"
    fields: dict[str, str] = field(default_factory=dict)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return value.hex()
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _dhcp_fields(pkt: object) -> dict[str, str]:
    from scapy.layers.dhcp import BOOTP, DHCP  # noqa: PLC0415 (scapy loads in ~0.5 s)

    boot = pkt[BOOTP]  # type: ignore[index]
    out = {"xid": f"0x{boot.xid:08x}", "chaddr": boot.chaddr[:6].hex(":"),
           "yiaddr": boot.yiaddr, "siaddr": boot.siaddr,
           "file": boot.file.rstrip(b"\0").decode("ascii", "replace")}
    if pkt.haslayer(DHCP):  # type: ignore[attr-defined]
        for opt in pkt[DHCP].options:  # type: ignore[index]
            if isinstance(opt, tuple) and len(opt) >= 2:
                out[str(opt[0])] = _text(opt[1] if len(opt) == 2 else opt[1:])
    return out


def _tftp_fields(pkt: object) -> dict[str, str]:
    from scapy.layers.tftp import TFTP, TFTP_DATA, TFTP_ERROR, TFTP_RRQ  # noqa: PLC0415

    t = pkt[TFTP]  # type: ignore[index]
    out = {"op": str(t.op)}
    if pkt.haslayer(TFTP_RRQ):  # type: ignore[attr-defined]
        out["filename"] = _text(pkt[TFTP_RRQ].filename)  # type: ignore[index]
    if pkt.haslayer(TFTP_DATA):  # type: ignore[attr-defined]
        out["block"] = str(pkt[TFTP_DATA].block)  # type: ignore[index]
    if pkt.haslayer(TFTP_ERROR):  # type: ignore[attr-defined]
        out["error"] = _text(pkt[TFTP_ERROR].errormsg)  # type: ignore[index]
    return out


def decode_pcap(path: Path, *, limit: int = 500) -> list[DecodedPacket]:
    """The first ``limit`` DHCP and TFTP-request packets of ``path``, fully decoded.

    TFTP data flows run on ephemeral ports; only packets to or from port 69
    are TFTP to scapy, so data blocks are left to the fast path.
    """
    from scapy.error import Scapy_Exception  # noqa: PLC0415
    from scapy.layers.dhcp import BOOTP  # noqa: PLC0415
    from scapy.layers.inet import IP, UDP  # noqa: PLC0415
    from scapy.layers.tftp import TFTP  # noqa: PLC0415
    from scapy.utils import PcapReader  # noqa: PLC0415

    out: list[DecodedPacket] = []
    try:
        reader = PcapReader(str(path))
    except (OSError, Scapy_Exception) as err:
        raise DecodeError(f"cannot read capture {path}: {err}") from err
    with reader:
        for index, pkt in enumerate(reader, 1):
            if len(out) >= limit:
                break
            if not pkt.haslayer(UDP) or not pkt.haslayer(IP):
                continue
            udp = pkt[UDP]
            if udp.sport not in PORTS and udp.dport not in PORTS:
                continue
            if pkt.haslayer(BOOTP):
                proto, fields = "dhcp", _dhcp_fields(pkt)
            elif pkt.haslayer(TFTP):
                proto, fields = "tftp", _tftp_fields(pkt)
            else:
                continue
            out.append(DecodedPacket(index, float(pkt.time), pkt[IP].src, pkt[IP].dst,
                                     pkt.summary(), proto, fields))
    return out
