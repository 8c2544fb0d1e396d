"""Stage timing from evidence: a pcap written here packet by packet, console lines, registry."""

from __future__ import annotations

import io

import dpkt

from waltport.lab.sequence import (
    BOARD_STAGES,
    IMAGE_STAGES,
    STAGES,
    Observability,
    Stage,
    TftpSeen,
    compute_stages,
    failed_stage,
    last_observable,
    parse_pcap,
    percentile,
    stage_statistics,
    with_logged,
)

BOARD = bytes.fromhex("525400560000")
SERVER = bytes.fromhex("9e0cbab3c96c")
T0 = 1000.0


Endpoint = tuple[bytes, str, int]   # MAC, IP, UDP port


def _udp(frm: Endpoint, to: Endpoint, payload: bytes) -> bytes:
    (src_mac, src, sport), (dst_mac, dst, dport) = frm, to
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes(map(int, src.split("."))), dst=bytes(map(int, dst.split("."))),
                    p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac, data=ip))


def _dhcp(mtype: int, opts: list[tuple[int, bytes]]) -> bytes:
    msg = dpkt.dhcp.DHCP(chaddr=BOARD, opts=[(53, bytes([mtype])), *opts])
    return bytes(msg)


def _pcap() -> bytes:
    """A U-Boot boot: DISCOVER with the WalT VCI, then start.uboot (1 block), kernel (2 blocks)."""
    vci = (60, b"walt.node.qemu-arm64")
    bcast = b"\xff" * 6
    frames = [
        (T0 + 2.0, _udp((BOARD, "0.0.0.0", 68), (bcast, "255.255.255.255", 67), _dhcp(1, [vci]))),
        (T0 + 2.1, _udp((BOARD, "0.0.0.0", 68), (bcast, "255.255.255.255", 67), _dhcp(3, [vci]))),
        # start.uboot: RRQ, one short DATA block, ACK
        (T0 + 2.2, _udp((BOARD, "10.0.0.10", 4000), (SERVER, "10.0.0.1", 69),
                        b"\0\1start.uboot\0octet\0blksize\x001468\0")),
        (T0 + 2.21, _udp((SERVER, "10.0.0.1", 50000), (BOARD, "10.0.0.10", 4000),
                         b"\0\3\0\1" + b"s" * 300)),
        (T0 + 2.22, _udp((BOARD, "10.0.0.10", 4000), (SERVER, "10.0.0.1", 50000), b"\0\4\0\1")),
        # kernel: a full block then a short one; the first block is retransmitted
        (T0 + 2.3, _udp((BOARD, "10.0.0.10", 4001), (SERVER, "10.0.0.1", 69),
                        b"\0\1kernel\0octet\0blksize\x001468\0")),
        (T0 + 2.4, _udp((SERVER, "10.0.0.1", 50001), (BOARD, "10.0.0.10", 4001),
                        b"\0\3\0\1" + b"k" * 1468)),
        (T0 + 2.5, _udp((SERVER, "10.0.0.1", 50001), (BOARD, "10.0.0.10", 4001),
                        b"\0\3\0\1" + b"k" * 1468)),
        (T0 + 2.6, _udp((SERVER, "10.0.0.1", 50001), (BOARD, "10.0.0.10", 4001),
                        b"\0\3\0\2" + b"k" * 10)),
        (T0 + 2.7, _udp((BOARD, "10.0.0.10", 4001), (SERVER, "10.0.0.1", 50001), b"\0\4\0\2")),
    ]
    buf = io.BytesIO()
    writer = dpkt.pcap.Writer(buf)
    for ts, frame in frames:
        writer.writepkt(frame, ts=ts)
    return buf.getvalue()


def test_parse_pcap() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    assert [(d.msg_type, d.vci) for d in dhcp] == [(1, "walt.node.qemu-arm64"),
                                                  (3, "walt.node.qemu-arm64")]
    assert [(t.filename, t.bytes, t.complete) for t in tftp] == [
        ("start.uboot", 300, True), ("kernel", 1478, True)]
    assert tftp[1].end == T0 + 2.7
    assert parse_pcap(_pcap(), "52:54:00:99:99:99") == ([], [])


def _stages(console: list[tuple[float, str]], booted: float | None) -> list[Stage]:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    return compute_stages(t0_wall=T0, model="qemu-arm64", identifier="vci",
                          second_stage="start.uboot", kernel="kernel", initrd=None,
                          dhcp=dhcp, tftp=tftp, console=console, booted_wall=booted)


def test_all_stages_reached() -> None:
    console = [(2.0, "BOOTP broadcast 1"), (2.8, "Starting kernel ..."),
               (3.5, "WALTPORT-USERSPACE-OK model=qemu-arm64 mac=52:54:00:56:00:00 ip=x"),
               (3.6, "WALTPORT-BOOTED model=qemu-arm64 mac=52:54:00:56:00:00 ip=10.0.0.10")]
    stages = _stages(console, T0 + 3.7)
    assert [s.name for s in stages] == [n for n in STAGES if n not in IMAGE_STAGES]
    times = {s.name: s.time for s in stages}
    assert times == {"power_on": 0.0, "first_dhcp": 2.0, "walt_dhcp": 2.0,
                     "second_stage_fetched": 2.22, "kernel_fetched": 2.7,
                     "kernel_started": 2.8, "userspace": 3.7}
    ev = {s.name: s.evidence for s in stages}
    assert ev["walt_dhcp"]["seen_on_wire"] is True
    assert ev["kernel_fetched"] == {"file": "kernel", "bytes": 1478, "bytes_captured": 1478}
    assert str(ev["userspace"]["marker"]).startswith("WALTPORT-BOOTED")
    assert failed_stage(stages) is None


IMAGE_CONSOLE = [
    (2.8, "Starting kernel ..."),
    (3.6, "WALTPORT-BOOTED model=qemu-arm64 mac=52:54:00:56:00:00 ip=10.0.0.10"),
    (3.9, "WALTPORT-NFSROOT-OK root=10.0.0.1:/var/lib/walt/nodes/10.0.0.10/fs init=/sbin/init"),
    (4.4, "WALTPORT-IMAGE-INIT model=qemu-arm64 ip=10.0.0.10/24 sshd=dropbear:22")]


def test_image_stages_from_marker_and_login() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    stages = compute_stages(t0_wall=T0, model="qemu-arm64", identifier="vci",
                            second_stage="start.uboot", kernel="kernel", initrd=None,
                            dhcp=dhcp, tftp=tftp, console=IMAGE_CONSOLE,
                            booted_wall=T0 + 3.7,
                            login={"time": 6.25, "output": "aarch64", "node_ip": "10.0.0.10"})
    assert [s.name for s in stages] == list(STAGES)
    by = {s.name: s for s in stages}
    assert by["image_userspace"].time == 4.4
    assert "/var/lib/walt/nodes/10.0.0.10/fs" in str(by["image_userspace"].evidence["nfsroot"])
    assert by["ssh_login"].time == 6.25
    assert by["ssh_login"].evidence == {"output": "aarch64", "node_ip": "10.0.0.10"}
    assert failed_stage(stages) is None


def test_failed_login_fails_its_stage() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    stages = compute_stages(t0_wall=T0, model="qemu-arm64", identifier="vci",
                            second_stage="start.uboot", kernel="kernel", initrd=None,
                            dhcp=dhcp, tftp=tftp, console=IMAGE_CONSOLE[:3],
                            booted_wall=T0 + 3.7, login={"time": None, "error": "x"})
    assert failed_stage(stages) == "image_userspace"


def test_missing_notification_fails_userspace() -> None:
    stages = _stages([(2.8, "Starting kernel ..."), (3.5, "WALTPORT-USERSPACE-OK")], None)
    assert failed_stage(stages) == "userspace"
    assert stages[-1].evidence["notification"] is False


def test_a_missing_stage_hides_the_later_ones() -> None:
    # Kernel never started: the marker cannot count even if some line matched later.
    stages = _stages([(3.5, "WALTPORT-USERSPACE-OK")], T0 + 3.7)
    assert failed_stage(stages) == "kernel_started"
    assert stages[-1].time is None


def test_initrd_is_part_of_kernel_fetched() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    stages = compute_stages(t0_wall=T0, model="qemu-arm64", identifier="vci",
                            second_stage="start.uboot", kernel="kernel", initrd="initrd",
                            dhcp=dhcp, tftp=tftp, console=[], booted_wall=None)
    assert failed_stage(stages) == "kernel_fetched"
    assert stages[4].evidence["initrd_bytes"] is None


def test_server_log_completes_a_transfer_the_capture_cut_short() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    cut = [t if t.filename != "kernel" else TftpSeen(t.start, t.end, t.filename, 1468, False)
           for t in tftp]
    common = {"t0_wall": T0, "model": "qemu-arm64", "identifier": "vci",
              "second_stage": "start.uboot", "kernel": "kernel", "initrd": None, "dhcp": dhcp,
              "tftp": cut, "console": [], "booted_wall": None}
    assert failed_stage(compute_stages(**common)) == "kernel_fetched"  # type: ignore[arg-type]
    stages = compute_stages(**common, served={"kernel": 1478})  # type: ignore[arg-type]
    assert failed_stage(stages) == "kernel_started"
    assert stages[4].evidence == {"file": "kernel", "bytes": 1478, "bytes_captured": 1468}


def test_server_log_stands_for_a_transfer_whose_request_the_capture_lost() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    wire = [t for t in tftp if t.filename != "kernel"]           # the RRQ was dropped
    kernel = next(t for t in tftp if t.filename == "kernel")
    logged = [TftpSeen(kernel.start, kernel.end + 0.01, "kernel", 1478, True, on_wire=False),
              TftpSeen(kernel.start - 1, kernel.start - 0.5, "start.uboot", 9, True,
                       on_wire=False)]
    merged = with_logged(wire, logged)
    # The wire wins for a file it saw; the log adds only what the wire lost entirely.
    assert [t.filename for t in merged] == [t.filename for t in tftp]
    assert [t.on_wire for t in merged if t.filename == "start.uboot"] == [True]
    common = {"t0_wall": T0, "model": "qemu-arm64", "identifier": "vci",
              "second_stage": "start.uboot", "kernel": "kernel", "initrd": None, "dhcp": dhcp,
              "console": [], "booted_wall": None}
    assert failed_stage(compute_stages(**common, tftp=wire)) == "kernel_fetched"  # type: ignore[arg-type]
    stages = compute_stages(**common, tftp=merged,  # type: ignore[arg-type]
                            served={"kernel": 1478})
    assert failed_stage(stages) == "kernel_started"
    assert stages[4].evidence == {"file": "kernel", "bytes": 1478, "seen_on_wire": False}
    assert stages[4].time == round(kernel.end + 0.01 - T0, 3)


def test_uci_identifier() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    stages = compute_stages(t0_wall=T0, model="qemu-arm64", identifier="uci",
                            second_stage="start.uboot", kernel="kernel", initrd=None,
                            dhcp=dhcp, tftp=tftp, console=[], booted_wall=None)
    assert failed_stage(stages) == "walt_dhcp"


def test_statistics() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 95) == 5.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    runs = [[Stage("power_on", 0.0), Stage("first_dhcp", t)] for t in (2.0, 2.2, 2.4, 9.0)]
    stats = stage_statistics(runs)
    assert stats["first_dhcp"] == {"count": 4, "median": 2.3, "p95": 9.0}
    assert "walt_dhcp" not in stats


def test_without_a_console_the_console_stages_are_not_observable() -> None:
    dhcp, tftp = parse_pcap(_pcap(), None)                       # the board's MAC learnt
    notification = (T0 + 3.7, "WALTPORT-BOOTED model=qemu-arm64 mac=52:54:00:56:00:00 ip=x")
    stages = compute_stages(t0_wall=T0, model="qemu-arm64", identifier="vci",
                            second_stage="start.uboot", kernel="kernel", initrd=None,
                            dhcp=dhcp, tftp=tftp, console=[], booted_wall=None,
                            notification=notification,
                            seen=Observability(console="no console in the bench file"))
    by = {s.name: s for s in stages}
    assert by["kernel_started"].status == "not observable"
    assert by["kernel_started"].reason == ("not observable with this bench: no console in "
                                           "the bench file")
    assert by["userspace"].status == "reached" and by["userspace"].time == 3.7
    assert failed_stage(stages) is None and last_observable(stages) == "userspace"


def test_a_stand_in_leaves_the_board_stages_to_the_board() -> None:
    dhcp, tftp = parse_pcap(_pcap(), "52:54:00:56:00:00")
    stages = compute_stages(t0_wall=T0, model="qemu-arm64", identifier="vci",
                            second_stage="start.uboot", kernel="kernel", initrd=None,
                            dhcp=dhcp, tftp=tftp, console=[], booted_wall=None,
                            seen=Observability(stand_in="virtual U-Boot"))
    by = {s.name: s for s in stages}
    assert [by[n].status for n in ("walt_dhcp", "second_stage_fetched")] == ["reached"] * 2
    assert by["second_stage_fetched"].evidence["then_requested"] == ["kernel"]
    assert {by[n].status for n in BOARD_STAGES if n in by} == {"needs the board"}
    assert failed_stage(stages) is None


def test_a_missed_stage_is_the_failed_one_even_after_an_unobservable_one() -> None:
    dhcp, _ = parse_pcap(_pcap(), None)
    stages = compute_stages(t0_wall=T0, model="qemu-arm64", identifier="vci",
                            second_stage="start.uboot", kernel="kernel", initrd=None,
                            dhcp=dhcp, tftp=[], console=[], booted_wall=None,
                            seen=Observability(console="none"))
    assert failed_stage(stages) == "second_stage_fetched"
    assert [s.status for s in stages[4:]] == ["missed", "not observable", "missed"]


def test_a_gso_super_packet_counts_as_its_blocks() -> None:
    # Captured before segmentation (a veth): three DATA datagrams in one UDP packet.
    blocks = b"".join(b"\0\3" + n.to_bytes(2, "big") + b"k" * (1468 if n < 3 else 10)
                      for n in (1, 2, 3))
    frames = [
        (T0 + 2.3, _udp((BOARD, "10.0.0.10", 4001), (SERVER, "10.0.0.1", 69),
                        b"\0\1kernel\0octet\0blksize\x001468\0windowsize\x0016\0")),
        (T0 + 2.4, _udp((SERVER, "10.0.0.1", 50001), (BOARD, "10.0.0.10", 4001), blocks)),
    ]
    buf = io.BytesIO()
    writer = dpkt.pcap.Writer(buf)
    for ts, frame in frames:
        writer.writepkt(frame, ts=ts)
    _, tftp = parse_pcap(buf.getvalue(), "52:54:00:56:00:00")
    assert [(t.filename, t.bytes, t.complete) for t in tftp] == [("kernel", 2 * 1468 + 10, True)]
