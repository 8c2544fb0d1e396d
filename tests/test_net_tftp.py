"""TFTP: WalT's map rules as values, then real clients (tftp-hpa, tftpy, curl, atftp)."""

from __future__ import annotations

from pathlib import Path

import pytest
from net_fixtures import (  # noqa: F401
    MODEL,
    client_run,
    fetch_kernel_with_real_clients,
    image_root,
    lab,
    needs_root,
    server,
    transfer_records,
    udhcpc,
)

from waltport.host.netns import Lab
from waltport.net.server import BenchServer
from waltport.net.tftp import TransferRecord, negotiate
from waltport.net.tftp_map import TftpRefused, contained, remap, split_target

IP = "192.168.152.10"


@pytest.mark.parametrize(("path", "expected"), [
    ("start.uboot", f"nodes/{IP}/tftp/start.uboot"),
    ("/start.uboot", f"nodes/{IP}/tftp/start.uboot"),
    ("//kernel", f"nodes/{IP}/tftp/kernel"),
    ("boot/rpi-3-b.uboot", f"nodes/{IP}/tftp/start.uboot"),
    ("boot/pc-x86-64.ipxe", f"nodes/{IP}/tftp/start.ipxe"),
    ("pxe/walt-x86-undionly.kpxe", "pxe/walt-x86-undionly.kpxe"),
    ("1234abcd//config.txt", f"nodes/{IP}/tftp/1234abcd//config.txt"),
])
def test_walt_map_rules(path: str, expected: str) -> None:
    assert remap(path, IP) == expected


def test_targets_and_containment(tmp_path: Path) -> None:
    assert split_target(f"nodes/{IP}/tftp/a//b").rest == ("a", "b")
    assert split_target("nodes/aa-bb-cc-dd-ee-ff/tftp/x").key == "aa-bb-cc-dd-ee-ff"
    for bad in (f"nodes/{IP}/tftp/../../etc/passwd", "nodes/x/tftp/a\\b", "etc/passwd"):
        with pytest.raises(TftpRefused):
            split_target(bad)
    (tmp_path / "f").write_text("x")
    (tmp_path / "out").symlink_to("/etc")
    assert contained(tmp_path, ("f",)) == tmp_path / "f"
    with pytest.raises(TftpRefused, match="outside"):
        contained(tmp_path, ("out", "passwd"))


def test_option_negotiation() -> None:
    assert negotiate({"blksize": "1468", "tsize": "0", "windowsize": "8", "timeout": "3",
                      "weird": "1"}, 99) == {"blksize": "1468", "tsize": "99",
                                             "windowsize": "8", "timeout": "3"}
    assert negotiate({"blksize": "100000", "windowsize": "9999"}, 1) == {
        "blksize": "65464", "windowsize": "64"}
    assert negotiate({"blksize": "abc", "timeout": "0"}, 1) == {}



@pytest.fixture(scope="module")
def node_ip(lab: Lab, server: BenchServer, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
    """The client namespace registered as a ``testm`` node, with its leased address."""
    return udhcpc(lab, tmp_path_factory.mktemp("dhcp"), "-V", f"walt.node.{MODEL}")["ip"]


@pytest.mark.root
@needs_root
def test_real_clients_byte_exact(lab: Lab, server: BenchServer, node_ip: str,  # noqa: F811
                                 image_root: Path, tmp_path: Path) -> None:  # noqa: F811
    want = (image_root / "vmlinuz").read_bytes()
    fetch_kernel_with_real_clients(lab, tmp_path, atftp_window=8)
    for f in "abcd":
        assert (tmp_path / f).read_bytes() == want
    want_ok = {(512, 1), (1468, 1), (1468, 8)}

    def ok_of(recs: list[TransferRecord]) -> set[tuple[int, int]]:
        return {(r.blksize, r.windowsize) for r in recs if r.result == "ok"}

    recs = transfer_records(server.transfer_log, lambda r: r.client == node_ip,
                            until=lambda recs: want_ok <= ok_of(recs))
    assert want_ok <= ok_of(recs)
    assert all(r.remapped == f"nodes/{node_ip}/tftp/kernel" for r in recs if r.result == "ok")


@pytest.mark.root
@needs_root
def test_block_number_wraps(lab: Lab, server: BenchServer, node_ip: str,  # noqa: F811
                            image_root: Path, tmp_path: Path) -> None:  # noqa: F811
    """600 KiB in 8-byte blocks: 76800 blocks, past the 16-bit block number."""
    (image_root / "boot" / MODEL / "wrap.bin").write_bytes(bytes(range(256)) * 2400)
    done = client_run(lab, ["atftp", "--option", "blksize 8", "--option", "windowsize 16", "-g",
                         "-r", "wrap.bin", "-l", str(tmp_path / "w"), lab.server_ip])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "w").read_bytes() == bytes(range(256)) * 2400


@pytest.mark.root
@needs_root
def test_blocks_larger_than_the_link_mtu_fall_back_to_one_send_each(
        lab: Lab, server: BenchServer, node_ip: str, image_root: Path,  # noqa: F811
        tmp_path: Path) -> None:
    """4000-byte blocks in windows of 4 on a 1500-byte link: the kernel refuses to
    segment them (GSO), the session sends block by block, IP fragments them."""
    done = client_run(lab, ["atftp", "--option", "blksize 4000", "--option", "windowsize 4", "-g",
                         "-r", "kernel", "-l", str(tmp_path / "big"), lab.server_ip])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "big").read_bytes() == (image_root / "vmlinuz").read_bytes()
    rec = transfer_records(server.transfer_log, lambda r: r.blksize == 4000)[-1]
    assert (rec.result, rec.windowsize, rec.retransmits) == ("ok", 4, 0)


TRAVERSAL = ["../../../../etc/passwd", "/etc/passwd", "//etc/passwd", "..%2f..%2fetc%2fpasswd",
             "%2e%2e/%2e%2e/etc/passwd", "....//....//etc/passwd", "escape", "escape-rel",
             "kernel/../../../../../etc/passwd", "..\\..\\etc\\passwd", "nodes/../../etc/passwd",
             f"../../nodes/{'9' * 3}/tftp/kernel", "./../start.uboot", "pxe/../../etc/shadow"]


@pytest.mark.root
@needs_root
def test_traversal_corpus_refused_and_still_serving(lab: Lab, server: BenchServer,  # noqa: F811
                                                    node_ip: str, tmp_path: Path) -> None:
    for i, path in enumerate(TRAVERSAL):
        out = tmp_path / f"t{i}"
        done = client_run(lab, ["tftp", lab.server_ip, "-c", "get", path, str(out)])
        assert "Error code" in done.stdout + done.stderr, path
        assert not out.exists() or out.stat().st_size == 0, path
    done = client_run(lab, ["tftp", lab.server_ip, "-c", "get", "start.uboot",
                            str(tmp_path / "ok")])
    assert done.returncode == 0 and (tmp_path / "ok").stat().st_size > 0
    refused = transfer_records(server.transfer_log, lambda r: r.requested in TRAVERSAL,
                               count=len(TRAVERSAL))
    assert len(refused) == len(TRAVERSAL) and all(r.result == "error" for r in refused)


@pytest.mark.root
@needs_root
def test_unregistered_client_and_pxe_file(lab: Lab, server: BenchServer, node_ip: str,  # noqa: F811
                                          tmp_path: Path) -> None:
    done = client_run(lab, ["tftp", lab.server_ip, "-c", "get", "pxe/walt-x86-undionly.kpxe",
                         str(tmp_path / "p")])
    assert done.returncode == 0 and (tmp_path / "p").read_text().startswith("#!ipxe")
    done = client_run(lab, ["tftp", lab.server_ip, "-c", "get",
                            "nodes/192.168.152.200/tftp/kernel", str(tmp_path / "q")])
    assert "Error code 1" in done.stdout + done.stderr
