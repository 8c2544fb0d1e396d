"""The network stage on a real capture: bench server, busybox udhcpc and tftp-hpa in a lab."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_fixtures import needs_root, udhcpc
from pipeline_fixtures import BOARDS, assert_round_trip

from waltport.bootloader.render import render_artifacts
from waltport.evidence.facts import NetworkFacts, TftpTransfer
from waltport.host.netns import Lab
from waltport.net.capture import Capture
from waltport.net.server import BenchServer
from waltport.profile.load import load_profile
from waltport.stages import network

pytestmark = [pytest.mark.root, needs_root]
PROFILE = BOARDS / "qemu-arm64.yaml"


@pytest.fixture(scope="module")
def pcap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A node of model qemu-arm64 asking for its address and its second stage."""
    tmp = tmp_path_factory.mktemp("wire")
    start = render_artifacts(load_profile(PROFILE))["start.uboot"]
    boot = tmp / "image" / "boot" / "qemu-arm64"
    boot.mkdir(parents=True)
    (boot / "start.uboot").write_bytes(start)
    lab = Lab(f"wpt-pipe-{os.getpid() % 100000}").up()
    try:
        with BenchServer(lab, tmp / "image", state=tmp / "state"):
            cap = Capture(lab.netns, lab.bridge, tmp / "node.pcap").start()
            try:
                lease = udhcpc(lab, tmp, "-V", "walt.node.qemu-arm64")
                got = subprocess.run(
                    lab.client_exec_argv(["tftp", lease.get("siaddr", lab.server_ip), "-c",
                                          "get", "start.uboot", str(tmp / "fetched.uboot")]),
                    capture_output=True, text=True, timeout=30, check=False)
                assert (tmp / "fetched.uboot").read_bytes() == start, got.stderr
            finally:
                cap.stop()
        yield tmp / "node.pcap"
    finally:
        lab.down()


def test_verdicts_and_wire_facts_from_a_real_exchange(pcap: Path, tmp_path: Path) -> None:
    res = network.run(str(PROFILE), str(tmp_path), mode="pcap", pcap=str(pcap))
    assert res.status == "pass", res.checks
    facts = res.facts(NetworkFacts)
    assert "walt.node.qemu-arm64" in (facts.vci_seen or ())
    served = {f.path: f for f in facts.files_served or ()}
    size = len(render_artifacts(load_profile(PROFILE))["start.uboot"])
    start = served["start.uboot"]
    assert isinstance(start, TftpTransfer) and start.bytes == size and start.complete
    assert (tmp_path / res.artifacts["plot:ladder"]).stat().st_size > 1000
    assert {r["type"] for r in facts.dhcp_rows or ()} >= {"DISCOVER", "OFFER", "REQUEST", "ACK"}
    # A capture given to analyse: nothing booted, no boot recorded for a first boot to judge.
    assert_round_trip(tmp_path / "network.json")
    assert facts.boot is None and not (tmp_path / "network" / "lab").exists()


def test_the_wrong_model_fails_with_evidence(pcap: Path, tmp_path: Path) -> None:
    prof = tmp_path / "other.yaml"
    prof.write_text(PROFILE.read_text().replace("model: qemu-arm64", "model: other-board"))
    res = network.run(str(prof), str(tmp_path / "out"), mode="pcap", pcap=str(pcap))
    assert res.status == "fail"
    ident = next(c for c in res.checks if c.name.startswith("DHCP request"))
    assert ident.status == "fail" and "walt.node.qemu-arm64" in ident.evidence
