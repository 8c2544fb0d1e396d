"""`waltport bundle`: what a porter attaches to the WalT issue (small, no secret, no host path)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import dpkt
import pytest
from pipeline_fixtures import BOARDS

from waltport.cli import main
from waltport.pipeline.assemble import assemble_run, write_run_file
from waltport.pipeline.bundle import MANIFEST, secret_in, write_bundle
from waltport.pipeline.pcaptrim import read_frames, trim
from waltport.pipeline.registry import PIPELINE_STAGES
from waltport.stages import board, bootloader
from waltport.util.paths import PROJECT_DIR

CLIENT, SERVER = "192.168.152.10", "192.168.152.1"
BLOCK = 1468


def _frame(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes(map(int, src.split("."))), dst=bytes(map(int, dst.split("."))),
                    p=17, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x52\x54\x00\x12\x34\x56", dst=b"\xff" * 6,
                                        type=0x0800, data=ip))


def boot_capture(blocks: int) -> list[tuple[float, bytes]]:
    """A netboot as a capture: DHCP discover/offer, RRQ kernel, OACK, ``blocks`` DATA/ACK, an
    NFS-like TCP packet."""
    dhcp = b"\x01\x01\x06\x00" + b"\x00" * 232 + b"\x63\x82\x53\x63\x35\x01\x01\xff"
    frames = [(1.0, _frame("0.0.0.0", 68, "255.255.255.255", 67, dhcp)),
              (1.1, _frame(SERVER, 67, CLIENT, 68, dhcp)),
              (1.2, _frame(CLIENT, 3383, SERVER, 69, b"\x00\x01kernel\x00octet\x00blksize\x00"
                                                     b"1468\x00")),
              (1.3, _frame(SERVER, 50000, CLIENT, 3383, b"\x00\x06blksize\x001468\x00"))]
    t = 1.4
    for n in range(1, blocks + 1):
        data = bytes([n % 251]) * (BLOCK if n < blocks else 100)
        frames.append((t, _frame(SERVER, 50000, CLIENT, 3383, b"\x00\x03" +
                                 n.to_bytes(2, "big") + data)))
        frames.append((t + 0.0001, _frame(CLIENT, 3383, SERVER, 50000, b"\x00\x04" +
                                          n.to_bytes(2, "big"))))
        t += 0.0002
    tcp = bytes(dpkt.ethernet.Ethernet(type=0x86DD, data=b"\x60" + b"\x00" * 60))
    frames.append((t, tcp))
    return frames


def write_pcap(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f)
        for ts, buf in frames:
            w.writepkt(buf, ts=ts)
    return path


def test_trim_keeps_control_packets_and_summarises_the_data() -> None:
    frames = boot_capture(800)
    out = trim(frames, dpkt.pcap.DLT_EN10MB, name="capture.pcap")
    kept, _ = read_frames(out.pcap, "trimmed")
    assert len(kept) == 4                       # discover, offer, RRQ, OACK
    s = out.summary
    assert s["packets"] == len(frames) and s["kept_packet_numbers"] == [1, 2, 3, 4]
    (t,) = s["tftp_transfers"]
    assert (t["file"], t["blocks"], t["bytes"], t["complete"]) == \
        ("kernel", 800, 799 * BLOCK + 100, True)
    dropped = {d["what"]: d["packets"] for d in s["dropped"]}
    assert dropped["TFTP DATA/ACK"] == 1600 and sum(dropped.values()) == 1601
    # Same capture, same bytes.
    assert trim(frames, dpkt.pcap.DLT_EN10MB).pcap == out.pcap


def test_secret_patterns() -> None:
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    assert secret_in("notes.txt", key) == "a private key"
    assert secret_in("first_boot/login/id_ed25519", b"") == "a private key (by its file name)"
    assert secret_in("x.log", b"GET /lab?token=" + b"ab" * 16) == "a Jupyter token"
    assert secret_in("x.json", b"ghp_" + b"A" * 36) == "a GitHub token"
    assert secret_in("id_ed25519.pub", b"ssh-ed25519 AAAA waltport-lab") is None
    assert secret_in("report.md", b"sha256 c43fce6cb77c, token bucket") is None


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real board/bootloader run plus what a lab boot leaves: a big capture, a kernel, a log
    naming the run dir's absolute path."""
    rd = tmp_path_factory.mktemp("bundle") / "qemu-arm64"
    rd.mkdir()
    prof = str(BOARDS / "qemu-arm64.yaml")
    write_run_file(rd, prof, {"mode": "lab", "out_dir": str(rd)},
                   [s for s in PIPELINE_STAGES if s.name in ("board", "bootloader")])
    board.run(prof, str(rd))
    bootloader.run(prof, str(rd))
    lab = rd / "network" / "lab"
    write_pcap(lab / "boot-0" / "capture.pcap", boot_capture(800))
    (lab / "boot-0" / "console.log").write_text(f"U-Boot 2023.01\nroot={rd}/network/lab/x\n")
    kernel = lab / "image-root" / "boot" / "qemu-arm64" / "kernel"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(bytes(range(256)) * 8192)        # 2 MiB
    (lab / "image-root" / "boot" / "qemu-arm64" / "start.uboot").write_bytes(b"x" * 100)
    assemble_run(rd, with_versions=False)
    return rd


def _zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_bundle_contents_manifest_and_no_host_paths(run_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    info = write_bundle(run_dir, tmp_path / "b.zip")
    files = _zip(info.path)
    top = "qemu-arm64/"
    for name in ("report.html", "report.md", "summary.json", "junit.xml", "run.json",
                 "board.json", "bootloader.json", "bootloader/boot.scr",
                 "bootloader/manifest.json", "network/lab/boot-0/console.log",
                 "network/lab/boot-0/capture.trimmed.pcap",
                 "network/lab/boot-0/capture.trimmed.json", MANIFEST):
        assert top + name in files, name
    assert top + "network/lab/boot-0/capture.pcap" not in files
    assert not any("image-root" in n for n in files)
    manifest = json.loads(files[top + MANIFEST])
    kernel = next(x for x in manifest["left_out"] if x.get("file", "").endswith("/kernel"))
    assert kernel["bytes"] == 2 << 20 and len(kernel["sha256"]) == 64
    assert any(x.get("directory") == "network/lab/image-root" for x in manifest["left_out"])
    listed = {f["file"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == {n.removeprefix(top) for n in files} - {MANIFEST}
    # Boot artifacts go in byte for byte: their hashes are the report's.
    assert files[top + "bootloader/boot.scr"] == (run_dir / "bootloader" / "boot.scr").read_bytes()
    # No host path anywhere: not the run dir's, not the checkout's.
    for name, data in files.items():
        text = data.decode("utf-8", "replace")
        assert str(run_dir) not in text and str(PROJECT_DIR) not in text, name
    assert "root=network/lab/x" in files[top + "network/lab/boot-0/console.log"].decode()
    trimmed = json.loads(files[top + "network/lab/boot-0/capture.trimmed.json"])
    assert trimmed["original"]["file"] == "network/lab/boot-0/capture.pcap"
    assert info.bytes < 200_000 and not info.over_limit
    # Same run, same bytes.
    assert write_bundle(run_dir, tmp_path / "again.zip").path.read_bytes() == \
        info.path.read_bytes()


def test_tar_gz_and_bad_names(run_dir: Path, tmp_path: Path) -> None:
    info = write_bundle(run_dir, tmp_path / "b.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(info.path.read_bytes()), mode="r:gz") as tf:
        names = tf.getnames()
    assert "qemu-arm64/report.md" in names and f"qemu-arm64/{MANIFEST}" in names
    assert main(["bundle", str(run_dir), "--out", str(tmp_path / "b.rar")]) == 2
    assert main(["bundle", str(tmp_path), "--out", str(tmp_path / "c.zip")]) == 2
    assert main(["bundle", str(run_dir), "--out", str(tmp_path)]) == 2   # a directory


def test_bundle_refuses_a_private_key_naming_it(run_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    key = run_dir / "first_boot" / "login" / "id_ed25519"
    key.parent.mkdir(parents=True)
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True, capture_output=True)
        assert main(["bundle", str(run_dir), "--out", str(tmp_path / "k.zip")]) == 2
        err = capsys.readouterr().err
        assert "first_boot/login/id_ed25519 looks like a private key" in err
        key.rename(key.with_name("renamed.txt"))        # the content gives it away too
        assert main(["bundle", str(run_dir), "--out", str(tmp_path / "k.zip")]) == 2
        assert "renamed.txt looks like a private key" in capsys.readouterr().err
        assert not (tmp_path / "k.zip").exists()
    finally:
        for p in key.parent.iterdir():
            p.unlink()
        key.parent.rmdir()
        key.parent.parent.rmdir()
