"""Reading a pcap file while tcpdump is still writing it (``-U``: one record at a time).

The boot sequence judges stages as the packets arrive; each :meth:`PcapTail.read`
returns only the records completed since the last call (a record half
written is left for the next call).  Classic pcap only, as tcpdump ``-w``
writes it; the timestamp resolution (micro or nano) comes from the magic.
"""

from __future__ import annotations

import struct
from pathlib import Path

from waltport.net.pcap import PcapError

MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
          b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
HEADER = 24
RECORD = 16


class PcapTail:
    """The new (timestamp, frame) records of a growing pcap file, call after call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._endian = "<"
        self._unit = 1e-6

    def read(self) -> list[tuple[float, bytes]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        pos = 0
        if self._offset == 0:
            if len(data) < HEADER:
                return []
            try:
                self._endian, self._unit = MAGICS[data[:4]]
            except KeyError as err:
                raise PcapError(f"{self.path}: not a pcap file (magic {data[:4].hex()})") from err
            pos = HEADER
        out: list[tuple[float, bytes]] = []
        while len(data) - pos >= RECORD:
            sec, frac, incl, _ = struct.unpack_from(self._endian + "IIII", data, pos)
            if len(data) - pos - RECORD < incl:
                break
            out.append((sec + frac * self._unit, data[pos + RECORD:pos + RECORD + incl]))
            pos += RECORD + incl
        self._offset += pos
        return out
