"""First-boot stage: what the node says of itself after login, as checks (pure); the run's
one boot judged without booting again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline_fixtures import BOARDS, assert_round_trip

from waltport.evidence.facts import FirstBootFacts, NetworkFacts
from waltport.evidence.results import StageResult, write_result
from waltport.lab.boot import BootReport
from waltport.lab.drive import BootRun
from waltport.lab.sequence import DhcpSeen, TftpSeen, compute_stages
from waltport.pipeline.assemble import write_run_file
from waltport.pipeline.registry import PARAMETERS, select
from waltport.profile.load import load_profile, profile_digest
from waltport.stages import first_boot
from waltport.stages._boot import BootAsk
from waltport.stages.first_boot import node_checks

PROFILE = BOARDS / "qemu-arm64.yaml"


def _boot(node: object) -> dict[str, Any]:
    return {"stages": [{"name": "ssh_login", "time": 48.5,
                        "evidence": {"output": "x86_64", "node": node}}]}


def test_debian_node_running() -> None:
    rows = node_checks(_boot({"apt": "apt 2.6.2 (amd64)", "systemd": "running",
                              "failed_units": []}))
    assert rows == [("apt-get answers on the node", True, "apt-get --version: apt 2.6.2 (amd64)"),
                    ("systemd reports the system running", True,
                     "systemctl is-system-running: running")]


def test_degraded_names_its_failed_units() -> None:
    rows = dict((n, (ok, ev)) for n, ok, ev in node_checks(_boot(
        {"apt": "apt 2.6.2 (arm64)", "systemd": "degraded",
         "failed_units": ["chrony.service"]})))
    assert rows["systemd reports the system running"] == (
        False, "systemctl is-system-running: degraded; failed units: chrony.service")


def test_minimal_image_skips_with_the_reason() -> None:
    rows = node_checks(_boot({"apt": "absent", "systemd": "absent", "failed_units": []}))
    assert [(n, ok) for n, ok, _ in rows] == [("apt-get answers on the node", None),
                                              ("systemd reports the system running", None)]
    assert "minimal" in rows[0][2]


def test_no_login_no_rows_and_errors_are_failures() -> None:
    assert node_checks({"stages": [{"name": "userspace", "evidence": {}}]}) == []
    assert node_checks(_boot({"error": "ssh timed out after 30 s"})) == [
        ("the node answers after login", False, "ssh timed out after 30 s")]


def _recorded_boot(run_dir: Path, ask: BootAsk) -> Path:
    """A boot the network stage made and recorded, written the way ``boot_board`` writes it."""
    lab = run_dir / "network" / "lab"
    t0 = 1_700_000_000.0
    stages = compute_stages(
        t0_wall=t0, model="qemu-arm64", identifier="vci", second_stage="start.uboot",
        kernel="kernel", initrd="initrd",
        dhcp=[DhcpSeen(t0 + 1.2, 1, "U-Boot.armv8", None),
              DhcpSeen(t0 + 2.0, 1, "walt.node.qemu-arm64", None)],
        tftp=[TftpSeen(t0 + 2.1, t0 + 2.2, "start.uboot", 1024, True),
              TftpSeen(t0 + 2.3, t0 + 7.9, "kernel", 33_000_000, True),
              TftpSeen(t0 + 8.0, t0 + 8.4, "initrd", 4_000_000, True)],
        console=[(8.5, "Starting kernel ..."),
                 (11.9, "WALTPORT-BOOTED model=qemu-arm64 mac=52:54:00:56:00:00 "
                        "ip=192.168.152.100"),
                 (14.2, "WALTPORT-IMAGE-INIT model=qemu-arm64 sshd=dropbear:22")],
        booted_wall=t0 + 12.0,
        login={"time": 16.6, "node_ip": "192.168.152.100", "output": "aarch64"})
    run = BootRun(0, "52:54:00:56:00:00", True, None, tuple(stages),
                  str(lab / "boot-0" / "console.log"), str(lab / "boot-0" / "capture.pcap"))
    report = BootReport("qemu-arm64", "qemu-arm64", "image-root", str(lab), (run,))
    (lab / "boot-0").mkdir(parents=True)
    (lab / "boot-report.json").write_text(json.dumps(report.to_json()))
    write_result(run_dir, StageResult("network", "pass", (), data=NetworkFacts(
        boot=ask.record("network/lab/boot-report.json"))))
    return lab


def test_the_first_boot_judges_the_network_stage_boot_without_booting(tmp_path: Path) -> None:
    # One boot per run: the network stage's boot (of the lab's root here: no image
    # stage in this run) is judged; the lab named here does not exist, nothing boots.
    write_run_file(tmp_path, str(PROFILE), PARAMETERS, select(["network", "first_boot"]))
    lab_name = f"wpob-none-{os.getpid() % 10000}"
    _recorded_boot(tmp_path, BootAsk(str(PROFILE), None, lab_name=lab_name,
                                     profile_digest=profile_digest(load_profile(PROFILE))))
    res = first_boot.run(str(PROFILE), str(tmp_path), lab_name=lab_name)
    assert res.status == "pass", res.checks
    facts = res.facts(FirstBootFacts)
    assert facts.boot_source == \
        "the network stage's boot (network/lab/boot-report.json)"
    checks = {c.name: c for c in res.checks}
    assert "walt.node.qemu-arm64" in checks["DHCP with walt.node.<model> on the wire"].evidence
    assert checks["SSH login to the node as root (key installed by the lab)"].evidence \
        .startswith("at 16.60 s")
    assert res.artifacts["pcap"] == "network/lab/boot-0/capture.pcap"
    assert facts.boots == 1 and facts.reached_userspace == 1
    assert (tmp_path / res.artifacts["plot:timeline"]).is_file()
    # Written with host paths made relative: the file, read and written again, is unchanged.
    assert_round_trip(tmp_path / "first_boot.json")
    assert not list((tmp_path / "first_boot").glob("boot-*"))
