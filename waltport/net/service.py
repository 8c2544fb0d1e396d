"""One socket served by one thread: the shape every bench-server listener shares."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

log = logging.getLogger("waltport.net")


class SocketService:
    """Owns a socket and the thread that reads it until :meth:`stop`.

    Subclasses open the socket (with a short timeout, so ``stop`` is prompt)
    and implement :meth:`on_datagram`. Whatever a datagram triggers, the loop
    goes on: a malformed packet never stops a server.
    """

    name = "service"
    bufsize = 4096

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._sock.settimeout(0.3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self.bad_packets = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._sock.close()

    def on_datagram(self, data: bytes, peer: Any) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(self.bufsize)
            except TimeoutError:
                continue
            except OSError as err:
                log.warning("%s: receive failed: %s", self.name, err)
                continue
            try:
                self.on_datagram(data, peer)
            except Exception:  # the server must survive anything a packet triggers
                self.bad_packets += 1
                log.exception("%s: unexpected failure on a packet from %s", self.name, peer)
