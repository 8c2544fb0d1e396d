"""IPv6 router advertisements for iPXE ROMs: answer each router solicitation at once.

iPXE's ``dhcp`` waits ~15 s for an RA; an RA with router lifetime 0 (no
default route) sent to Ethernet ``33:33:00:00:00:01`` ends the wait (lab-notes:
a unicast RA is dropped).
"""

from __future__ import annotations

import logging
import socket

from waltport.net.service import SocketService

log = logging.getLogger("waltport.net.ra")
ETH_P_IPV6 = 0x86DD
ICMPV6_RS = 133


def is_router_solicitation(frame: bytes) -> bool:
    """An Ethernet frame carrying ICMPv6 type 133 directly after the IPv6 header."""
    return (len(frame) >= 14 + 40 + 1 and frame[12:14] == b"\x86\xdd"
            and frame[14 + 6] == 58 and frame[14 + 40] == ICMPV6_RS)


def link_local(mac: str) -> str:
    """The EUI-64 link-local address of ``mac``."""
    b = bytearray(bytes.fromhex(mac.replace(":", "")))
    b[0] ^= 0x02
    eui = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    groups = [f"{(eui[i] << 8) | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)


def build_ra(server_mac: str) -> bytes:
    """The RA frame (scapy builds it, checksums included): lifetime 0, no prefix."""
    from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, IPv6  # noqa: PLC0415
    from scapy.layers.l2 import Ether  # noqa: PLC0415

    pkt = (Ether(src=server_mac, dst="33:33:00:00:00:01")
           / IPv6(src=link_local(server_mac), dst="ff02::1", hlim=255)
           / ICMPv6ND_RA(routerlifetime=0) / ICMPv6NDOptSrcLLAddr(lladdr=server_mac))
    return bytes(pkt)


class RaResponder(SocketService):
    """Raw-socket responder on one interface (inside the lab namespace only)."""

    name = "ra"
    bufsize = 2048

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self.answered = 0
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
        sock.bind((interface, ETH_P_IPV6))
        mac = open(f"/sys/class/net/{interface}/address").read().strip()  # noqa: SIM115
        self._frame = build_ra(mac)
        super().__init__(sock)

    def on_datagram(self, frame: bytes, addr: tuple[str, int, int, int, bytes]) -> None:
        # addr[2] == PACKET_OUTGOING (4) for our own frames: never answer ourselves.
        if addr[2] != socket.PACKET_OUTGOING and is_router_solicitation(frame):
            self._sock.send(self._frame)
            self.answered += 1
            log.info("ra: answered a router solicitation from %s", frame[6:12].hex(":"))
