"""Reading a pcap while it grows: only whole records, each once."""

from __future__ import annotations

import io
from pathlib import Path

import dpkt
import pytest

from waltport.net.pcap import PcapError
from waltport.net.pcaptail import PcapTail


def _pcap(frames: list[tuple[float, bytes]], nano: bool = False) -> bytes:
    buf = io.BytesIO()
    writer = dpkt.pcap.Writer(buf, nano=nano)
    for ts, frame in frames:
        writer.writepkt(frame, ts=ts)
    return buf.getvalue()


@pytest.mark.parametrize("nano", [False, True])
def test_records_arrive_as_they_are_written(tmp_path: Path, nano: bool) -> None:
    data = _pcap([(1.5, b"a" * 60), (2.25, b"b" * 70), (3.0, b"c" * 80)], nano)
    path = tmp_path / "c.pcap"
    tail = PcapTail(path)
    assert tail.read() == []                         # not created yet
    path.write_bytes(data[:10])                      # half a file header
    assert tail.read() == []
    path.write_bytes(data[:24 + 16 + 60 + 5])        # one record and a bit of the next
    assert tail.read() == [(1.5, b"a" * 60)]
    path.write_bytes(data)
    assert tail.read() == [(2.25, b"b" * 70), (3.0, b"c" * 80)]
    assert tail.read() == []


def test_not_a_pcap(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)      # pcapng: tcpdump -w never writes it
    with pytest.raises(PcapError, match="not a pcap file"):
        PcapTail(path).read()
