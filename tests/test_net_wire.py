"""The one decoder of captures: datagrams in, typed DHCP/TFTP/notification messages out."""

from __future__ import annotations

import dpkt

from waltport.net import dhcp_wire as w
from waltport.net.analysis import analyze
from waltport.net.pcap import UdpRecord
from waltport.net.wire import (
    BootNote,
    DhcpPacket,
    TftpAck,
    TftpData,
    TftpError,
    TftpOack,
    TftpOther,
    TftpRequest,
    WireDecoder,
    decode_records,
    split_data,
)

C, S = "192.168.152.10", "192.168.152.1"


def _data(block: int, size: int) -> bytes:
    return b"\0\3" + block.to_bytes(2, "big") + b"k" * size


def _transfer() -> list[UdpRecord]:
    """RRQ kernel (blksize 1468), OACK, a GSO super-packet of blocks 1-3, ACK 3, an error."""
    return [
        UdpRecord(1, 0.0, C, 4001, S, 69, b"\0\1/kernel\0octet\0BLKSIZE\x001468\0"),
        UdpRecord(2, 0.1, S, 50001, C, 4001, b"\0\6blksize\x001468\0tsize\x002946\0"),
        UdpRecord(3, 0.2, S, 50001, C, 4001, _data(1, 1468) + _data(2, 1468) + _data(3, 10)),
        UdpRecord(4, 0.3, C, 4001, S, 50001, b"\0\4\0\3"),
        UdpRecord(5, 0.4, C, 4001, S, 50001, b"\0\5\0\0done\0"),
        UdpRecord(6, 0.5, C, 4001, S, 50001, b"\0\4"),                 # truncated ACK
        UdpRecord(7, 0.6, S, 50002, C, 4999, _data(1, 10)),           # no RRQ: not TFTP
    ]


def test_tftp_messages_with_a_gso_super_packet_split() -> None:
    msgs = decode_records(_transfer())
    assert [type(m) for m in msgs] == [TftpRequest, TftpOack, TftpData, TftpData, TftpData,
                                       TftpAck, TftpError, TftpOther]
    rrq = msgs[0]
    assert isinstance(rrq, TftpRequest)
    assert (rrq.flow, rrq.filename, rrq.options, rrq.repeat) == (
        (C, 4001), "/kernel", {"blksize": "1468"}, False)
    assert [(m.block, m.size) for m in msgs if isinstance(m, TftpData)] == [
        (1, 1468), (2, 1468), (3, 10)]
    err = msgs[6]
    assert isinstance(err, TftpError) and (err.code, err.text, err.from_server) == (
        0, "done", False)


def test_analysis_counts_a_super_packet_as_its_blocks() -> None:
    (x,) = analyze(_transfer(), 7).tftp
    assert (x.bytes, x.blocks, x.tsize, x.complete) == (2946, 3, 2946, True)


def test_a_datagram_that_is_not_a_super_packet_is_left_whole() -> None:
    # Longer than one block, but the second piece is not the next DATA block.
    odd = _data(7, 1468) + _data(9, 5)
    assert split_data(odd, 1468) == [(7, 1468 + 4 + 5)]
    assert split_data(_data(0xFFFF, 512) + _data(0, 3), 512) == [(0xFFFF, 512), (0, 3)]


def test_dhcp_notification_and_malformed() -> None:
    disc = w.encode_dhcp(w.DhcpMessage(op=1, xid=7, chaddr="02:00:00:00:00:01", options=(
        (w.OPT_MSGTYPE, b"\x01"), (w.OPT_UCI, b"\x0fwalt.node.board"))))
    recs = [UdpRecord(1, 0.0, "0.0.0.0", 68, "255.255.255.255", 67, disc),
            UdpRecord(2, 0.1, "0.0.0.0", 68, "255.255.255.255", 67, disc[:100]),  # cut short
            UdpRecord(3, 0.2, C, 5000, S, 7557, b"WALTPORT-BOOTED model=m mac=x ip=y\n")]
    dhcp, note = decode_records(recs)
    assert isinstance(dhcp, DhcpPacket) and dhcp.msg.uci == "walt.node.board"
    assert isinstance(note, BootNote) and note.text == "WALTPORT-BOOTED model=m mac=x ip=y"


def _frame(rec: UdpRecord) -> bytes:
    udp = dpkt.udp.UDP(sport=rec.sport, dport=rec.dport, data=rec.payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes(map(int, rec.src.split("."))),
                    dst=bytes(map(int, rec.dst.split("."))), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b"\2" * 6, dst=b"\4" * 6, data=ip))


def test_frames_fed_one_at_a_time_decode_as_the_whole_capture() -> None:
    recs = _transfer()
    live = WireDecoder()
    fed = [m for r in recs for m in live.feed_frame(r.time, _frame(r))]
    whole = decode_records(recs)
    assert [(type(m), m.rec.index, m.rec.payload) for m in fed] == \
        [(type(m), m.rec.index, m.rec.payload) for m in whole]
    assert {m.rec.src_mac for m in fed} == {"02:02:02:02:02:02"}
