"""DHCP (RFC 2131/2132) on the wire: bytes -> :class:`DhcpMessage` -> bytes, pure.

A strict struct codec rather than scapy's dissector: every defect is reported
with the field it is in (a fuzzed packet must give a clear reason, never an
exception deep inside a library), and the same parser is the fast path of the
capture analysis, where scapy would be ~50x slower.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from waltport.errors import WaltportError

MAGIC = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
HEADER_LEN = HEADER.size  # 236

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
MESSAGE_TYPES = {DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE",
                 ACK: "ACK", NAK: "NAK", RELEASE: "RELEASE", INFORM: "INFORM"}

OPT_PAD, OPT_END = 0, 255
OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN, OPT_BROADCAST = 1, 3, 6, 12, 15, 28
OPT_NTP, OPT_VENDOR, OPT_REQ_IP, OPT_LEASE, OPT_MSGTYPE, OPT_SERVER_ID = 42, 43, 50, 51, 53, 54
OPT_PARAMS, OPT_VCI, OPT_TFTP_SERVER, OPT_BOOTFILE, OPT_UCI, OPT_ARCH = 55, 60, 66, 67, 77, 93
OPT_IPXE = 175
IPXE_NO_PXEDHCP = 176


class DhcpParseError(WaltportError):
    """A datagram is not a well-formed DHCP message; ``field`` says where."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        super().__init__(f"bad DHCP packet: {field_name}: {reason}")


@dataclass(frozen=True)
class DhcpMessage:
    """One BOOTP/DHCP message with its options as raw bytes by code (in wire order)."""

    op: int
    xid: int
    chaddr: str  # aa:bb:cc:dd:ee:ff
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    giaddr: str = "0.0.0.0"
    flags: int = 0
    secs: int = 0
    sname: str = ""
    file: str = ""
    options: tuple[tuple[int, bytes], ...] = field(default=())

    def opt(self, code: int) -> bytes | None:
        """Raw value of option ``code`` (first occurrence), or None."""
        for c, v in self.options:
            if c == code:
                return v
        return None

    @property
    def msg_type(self) -> int | None:
        v = self.opt(OPT_MSGTYPE)
        return v[0] if v and len(v) == 1 else None

    @property
    def msg_name(self) -> str:
        return MESSAGE_TYPES.get(self.msg_type or 0, "BOOTP" if self.msg_type is None else "?")

    def text(self, code: int) -> str | None:
        """Option ``code`` as text (VCI, UCI, host name), NULs stripped."""
        v = self.opt(code)
        return None if v is None else v.rstrip(b"\0").decode("latin-1")

    @property
    def vci(self) -> str | None:
        return self.text(OPT_VCI)

    @property
    def uci(self) -> str | None:
        """User class (option 77): RFC 3004 length-prefixed list, or iPXE/udhcpc raw text."""
        v = self.opt(OPT_UCI)
        if v is None:
            return None
        return decode_user_class(v)

    @property
    def params(self) -> tuple[int, ...]:
        v = self.opt(OPT_PARAMS)
        return tuple(v) if v else ()

    @property
    def arch(self) -> int | None:
        v = self.opt(OPT_ARCH)
        return struct.unpack("!H", v[:2])[0] if v and len(v) >= 2 else None

    def ip_opt(self, code: int) -> str | None:
        v = self.opt(code)
        return str(ipaddress.IPv4Address(v[:4])) if v and len(v) >= 4 else None


def decode_user_class(raw: bytes) -> str:
    """Option 77 value: RFC 3004 form (len, data)* if it parses exactly, else raw text.

    iPXE sends the RFC form (``\\x0fwalt.node.model``) while busybox ``-x 77:``
    sends the bytes as given; accepting both is what ISC dhcpd effectively does.
    """
    items, i = [], 0
    while i < len(raw):
        n = raw[i]
        if n == 0 or i + 1 + n > len(raw):
            return raw.rstrip(b"\0").decode("latin-1")
        items.append(raw[i + 1:i + 1 + n].decode("latin-1"))
        i += 1 + n
    return ",".join(items) if items and all(s.isprintable() for s in items) else \
        raw.rstrip(b"\0").decode("latin-1")


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def parse_options(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """The TLV option area after the magic cookie; a truncated option is an error."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        code = data[i]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            i += 1
            continue
        if i + 1 >= len(data):
            raise DhcpParseError(f"option {code}", "length byte missing")
        n = data[i + 1]
        if i + 2 + n > len(data):
            raise DhcpParseError(f"option {code}", f"length {n} runs past the packet end")
        out.append((code, data[i + 2:i + 2 + n]))
        i += 2 + n
    return tuple(out)


def parse_dhcp(data: bytes) -> DhcpMessage:
    """Decode one DHCP datagram (UDP payload); DhcpParseError names the bad field."""
    if len(data) < HEADER_LEN + 4:
        raise DhcpParseError("header", f"{len(data)} bytes, need at least {HEADER_LEN + 4}")
    (op, htype, hlen, _hops, xid, secs, flags, ci, yi, si, gi, ch, sname, bfile) = \
        HEADER.unpack_from(data)
    if op not in (1, 2):
        raise DhcpParseError("op", f"{op} is neither BOOTREQUEST nor BOOTREPLY")
    if htype != 1 or hlen != 6:
        raise DhcpParseError("htype/hlen", f"{htype}/{hlen}: only Ethernet (1/6) is served")
    if data[HEADER_LEN:HEADER_LEN + 4] != MAGIC:
        raise DhcpParseError("magic cookie", data[HEADER_LEN:HEADER_LEN + 4].hex())
    options = parse_options(data[HEADER_LEN + 4:])
    msg = DhcpMessage(
        op=op, xid=xid, chaddr=mac_text(ch[:6]), ciaddr=str(ipaddress.IPv4Address(ci)),
        yiaddr=str(ipaddress.IPv4Address(yi)), siaddr=str(ipaddress.IPv4Address(si)),
        giaddr=str(ipaddress.IPv4Address(gi)), flags=flags, secs=secs, sname=_cstr(sname),
        file=_cstr(bfile), options=options)
    mt = msg.opt(OPT_MSGTYPE)
    if mt is not None and (len(mt) != 1 or mt[0] not in MESSAGE_TYPES):
        raise DhcpParseError("option 53 (message type)", f"invalid value {mt.hex()}")
    return msg


def _ip(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def encode_dhcp(msg: DhcpMessage) -> bytes:
    """Encode ``msg`` (options in the given order), padded to the 300-byte BOOTP minimum."""
    mac = bytes.fromhex(msg.chaddr.replace(":", "")).ljust(16, b"\0")
    head = HEADER.pack(msg.op, 1, 6, 0, msg.xid, msg.secs, msg.flags, _ip(msg.ciaddr),
                       _ip(msg.yiaddr), _ip(msg.siaddr), _ip(msg.giaddr), mac,
                       msg.sname.encode("latin-1")[:63], msg.file.encode("latin-1")[:127])
    body = bytearray(MAGIC)
    for code, value in msg.options:
        if len(value) > 255:
            raise DhcpParseError(f"option {code}", f"value of {len(value)} bytes exceeds 255")
        body += bytes((code, len(value))) + value
    body.append(OPT_END)
    out = head + bytes(body)
    return out.ljust(300, b"\0")
