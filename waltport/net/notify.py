"""Boot notifications: a booted node's initramfs sends one UDP datagram to port 7557.

``WALTPORT-BOOTED model=<model> mac=<aa:bb:cc:dd:ee:ff> ip=<a.b.c.d>\\n`` (busybox
``nc -u``); the listener records a ``booted`` event, malformed datagrams are
logged and ignored.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from dataclasses import dataclass

from waltport.errors import WaltportError
from waltport.net.registry import Registry
from waltport.net.service import SocketService
from waltport.walt import NOTIFY_PORT, NOTIFY_PREFIX

log = logging.getLogger("waltport.net.notify")
LINE_RE = re.compile(re.escape(NOTIFY_PREFIX) + r" model=([a-z][a-z0-9-]*) "
                     r"mac=((?:[0-9a-f]{2}:){5}[0-9a-f]{2}) ip=(\S+)\r?\n?")


class NotificationError(WaltportError):
    """A boot notification datagram is malformed."""


@dataclass(frozen=True)
class BootNotification:
    model: str
    mac: str
    ip: str


def parse_notification(data: bytes) -> BootNotification:
    """Decode one datagram; NotificationError says what is wrong."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as err:
        raise NotificationError(f"boot notification is not ASCII: {data[:40]!r}") from err
    m = LINE_RE.fullmatch(text)
    if not m:
        raise NotificationError(f"boot notification not of the form "
                                f"'{NOTIFY_PREFIX} model=M mac=MAC ip=IP': {text[:80]!r}")
    try:
        ip = str(ipaddress.IPv4Address(m.group(3)))
    except ValueError as err:
        raise NotificationError(f"boot notification: bad ip {m.group(3)!r}") from err
    return BootNotification(m.group(1), m.group(2), ip)


class NotificationListener(SocketService):
    """UDP listener on ``server_ip:7557`` writing ``booted`` events."""

    name = "notify"
    bufsize = 2048

    def __init__(self, server_ip: str, registry: Registry, port: int = NOTIFY_PORT) -> None:
        self.registry = registry
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((server_ip, port))
        super().__init__(sock)

    def on_datagram(self, data: bytes, peer: tuple[str, int]) -> None:
        try:
            n = parse_notification(data)
        except NotificationError as err:
            log.warning("notify: ignored datagram from %s: %s", peer, err)
            return
        self.registry.record_booted(n.model, n.mac, n.ip)
        log.info("notify: %s %s %s booted", n.model, n.mac, n.ip)
