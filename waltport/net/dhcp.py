"""The DHCP server edge: one UDP socket on the lab interface, decisions from dhcp_policy."""

from __future__ import annotations

import logging
import socket

from waltport.net import dhcp_policy, dhcp_wire
from waltport.net.registry import Registry
from waltport.net.service import SocketService

log = logging.getLogger("waltport.net.dhcp")
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


class DhcpServer(SocketService):
    """Serve DHCP on ``interface`` until :meth:`stop`; every commit goes to the registry."""

    name = "dhcp"

    def __init__(self, cfg: dhcp_policy.DhcpConfig, registry: Registry, interface: str) -> None:
        self.cfg = cfg
        self.registry = registry
        self.interface = interface
        self.served = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        # Bound to the lab interface: nothing is received from, or sent to, any other.
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode())
        sock.bind(("", 67))
        super().__init__(sock)

    def on_datagram(self, data: bytes, peer: tuple[str, int]) -> None:
        """Decode, decide, register, answer one datagram."""
        try:
            msg = dhcp_wire.parse_dhcp(data)
        except dhcp_wire.DhcpParseError as err:
            self.bad_packets += 1
            if self.bad_packets <= 20 or self.bad_packets % 1000 == 0:
                log.warning("dhcp: dropped packet from %s (#%d): %s", peer, self.bad_packets,
                            err)
            return
        leased = None
        if msg.op == 1 and msg.msg_type in (dhcp_wire.DISCOVER, dhcp_wire.REQUEST):
            wanted = msg.ip_opt(dhcp_wire.OPT_REQ_IP) or \
                (msg.ciaddr if msg.ciaddr != "0.0.0.0" else None)
            leased = self.registry.offer(msg.chaddr, self.cfg.pool, wanted=wanted)
        decision = dhcp_policy.decide(msg, self.cfg, leased)
        log.info("dhcp: %s xid=%08x mac=%s vci=%r uci=%r -> %s (%s)", msg.msg_name, msg.xid,
                 msg.chaddr, msg.vci, msg.uci, decision.action, decision.reason)
        if decision.reply is None:
            return
        if decision.commit and decision.ip:
            for e in self.registry.commit(msg.chaddr, decision.ip, msg.vci, msg.uci,
                                          hostname=msg.text(dhcp_wire.OPT_HOSTNAME)):
                log.info("registry: %s %s %s %s", e.kind, e.mac, e.ip, e.model or e.type)
        dest = msg.ciaddr if msg.ciaddr != "0.0.0.0" and decision.action != "nak" \
            else "255.255.255.255"
        self._sock.sendto(dhcp_wire.encode_dhcp(decision.reply), (dest, 68))
        self.served += 1
