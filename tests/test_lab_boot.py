"""Real netboots: U-Boot (arm64) and iPXE (x86_64) under QEMU TCG against the bench server.

Each test uses its own lab (namespace) and checks that nothing is left behind:
no namespace, no QEMU or tcpdump process.  Timeouts are generous (shared,
slow machines); timing figures belong in benchmarks/bench_boot.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import boot_failures, processes_mentioning

from waltport.cli import main
from waltport.errors import WaltportError
from waltport.host.netns import netns_exists
from waltport.image.elf import kernel_arch
from waltport.lab.boot import boot_board
from waltport.lab.imageroot import ImageRootError, build_image_root, check_image_root
from waltport.net.registry import Registry
from waltport.profile.load import load_profile

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"
TIMEOUT = 240.0

pytestmark = [
    pytest.mark.root, pytest.mark.qemu, pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None
                       or shutil.which("qemu-system-x86_64") is None, reason="needs QEMU"),
]


def _lab_name(tag: str) -> str:
    return f"wpb{tag}{os.getpid() % 100000}"


def _assert_nothing_left(lab: str, out: Path) -> None:
    assert not netns_exists(lab) and not netns_exists(f"{lab}-client")
    assert processes_mentioning(str(out)) == []


@pytest.fixture(scope="module")
def arm64_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_image_root(load_profile(BOARDS / "qemu-arm64.yaml"), None,
                            tmp_path_factory.mktemp("arm64") / "image-root")


def test_image_root_layout(arm64_root: Path) -> None:
    boot = arm64_root / "boot" / "qemu-arm64"
    assert (boot / "start.uboot").read_bytes()[:4] == bytes.fromhex("27051956")
    # the profile sends the arm64 Image gzip'd (booti inflates it)
    assert kernel_arch((boot / "kernel").read_bytes()[:65536]).format == "gzip+arm64 Image"
    assert (boot / "initrd").read_bytes()[:6] == b"070701"
    profile = load_profile(BOARDS / "qemu-arm64.yaml")
    assert check_image_root(arm64_root, profile, "qemu-arm64") == boot
    with pytest.raises(ImageRootError, match=r"lacks start\.uboot, kernel, initrd"):
        check_image_root(arm64_root.parent, profile, "qemu-arm64")


def test_arm64_uboot_boots_to_userspace(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path, arm64_root: Path) -> None:
    lab, out = _lab_name("a"), tmp_path / "out"
    code = main(["lab", "boot", str(BOARDS / "qemu-arm64.yaml"), "--lab", lab, "--image-root",
                 str(arm64_root), "--out", str(out), "--timeout", str(TIMEOUT), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, boot_failures(report)
    assert report["board"] == "qemu-arm64" and report["success_rate"] == 1.0
    boot = report["boots"][0]
    stages = {s["name"]: s for s in boot["stages"]}
    times = [s["time"] for s in boot["stages"]]
    assert all(t is not None for t in times) and times == sorted(times)
    # VCI proven on the wire (pcap), second stage and kernel really transferred
    assert stages["walt_dhcp"]["evidence"]["vci"] == "walt.node.qemu-arm64"
    assert stages["second_stage_fetched"]["evidence"]["bytes"] > 64
    kernel_size = (arm64_root / "boot" / "qemu-arm64" / "kernel").stat().st_size
    assert stages["kernel_fetched"]["evidence"]["bytes"] == kernel_size
    assert "Starting kernel" in stages["kernel_started"]["evidence"]["line"]
    assert stages["userspace"]["evidence"]["notification"] is True
    # the bench server recorded the node as booted, with model and MAC
    events = Registry(out / "server-state" / "registry.sqlite").events(boot["mac"])
    assert [(e.kind, e.model) for e in events if e.kind == "booted"] == [("booted", "qemu-arm64")]
    assert "WALTPORT-USERSPACE-OK" in Path(boot["console_log"]).read_text()
    assert Path(boot["pcap"]).stat().st_size > 0
    # The SD card is the board's medium as `waltport media` writes it (with its sidecar).
    assert "Found U-Boot script /boot.scr" in Path(boot["console_log"]).read_text()
    assert json.loads((out / "sdcard.img.json").read_text())["kind"] == "uboot"
    _assert_nothing_left(lab, out)


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_arm_uboot_boots_default_image_to_ssh_login(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    # The 32-bit ARM board: Debian's qemu_arm U-Boot (Cortex-A15), bootz of the
    # armmp zImage, the armhf default image over NFS, twice (--boots statistics).
    lab, out = _lab_name("r"), tmp_path / "out"
    code = main(["lab", "boot", str(BOARDS / "qemu-arm.yaml"), "--lab", lab, "--default-image",
                 "--boots", "2", "--out", str(out), "--timeout", str(TIMEOUT), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, boot_failures(report)
    assert report["success_rate"] == 1.0 and len(report["boots"]) == 2
    assert set(report["stages"]) >= {"walt_dhcp", "kernel_fetched", "userspace", "ssh_login"}
    assert all(report["stages"][s]["median"] <= report["stages"][s]["p95"]
               for s in report["stages"])
    stages = {s["name"]: s for s in report["boots"][0]["stages"]}
    assert stages["walt_dhcp"]["evidence"]["vci"] == "walt.node.qemu-arm"
    kernel = out / "default-image" / "boot" / "qemu-arm" / "kernel"
    assert kernel_arch(kernel.read_bytes()[:65536]).format == "arm zImage"
    assert stages["kernel_fetched"]["evidence"]["bytes"] == kernel.stat().st_size
    assert "Starting kernel" in stages["kernel_started"]["evidence"]["line"]
    assert "WALTPORT-IMAGE-INIT model=qemu-arm" in stages["image_userspace"]["evidence"]["marker"]
    assert stages["ssh_login"]["evidence"]["output"] == "armv7l"
    _assert_nothing_left(lab, out)


def test_x86_ipxe_boots_to_userspace(tmp_path: Path) -> None:
    lab, out = _lab_name("x"), tmp_path / "out"
    report = boot_board(load_profile(BOARDS / "qemu-x86-64.yaml"), lab_name=lab, out_dir=out,
                        timeout=TIMEOUT)
    assert report.ok, report.summary()
    run = report.runs[0]
    stages = {s.name: s for s in run.stages}
    assert stages["first_dhcp"].evidence["vci"] == "PXEClient:Arch:00000:UNDI:002001"
    assert stages["walt_dhcp"].evidence["uci"] == "walt.node.pc-x86-64"   # UCI on the wire
    assert stages["kernel_fetched"].evidence["initrd_bytes"] > 0
    assert "pc-x86-64" in str(stages["userspace"].evidence["marker"])
    events = Registry(out / "server-state" / "registry.sqlite").events(run.mac)
    assert ("booted", "pc-x86-64") in [(e.kind, e.model) for e in events]
    _assert_nothing_left(lab, out)


def test_x86_32bit_submodel_detected_by_real_ipxe(tmp_path: Path) -> None:
    # A CPU without long mode: the real iPXE's `cpuid --ext 29` fails, it sends
    # walt.node.pc-x86-32, the server serves boot/pc-x86-32/ (an i386 kernel).
    lab, out = _lab_name("y"), tmp_path / "out"
    report = boot_board(load_profile(BOARDS / "qemu-x86-64.yaml"), lab_name=lab, out_dir=out,
                        timeout=TIMEOUT, model="pc-x86-32")
    assert report.ok, report.summary()
    run = report.runs[0]
    stages = {s.name: s for s in run.stages}
    assert stages["walt_dhcp"].evidence["uci"] == "walt.node.pc-x86-32"
    assert stages["walt_dhcp"].evidence["seen_on_wire"] is True
    kernel = out / "image-root" / "boot" / "pc-x86-32" / "kernel"
    assert kernel_arch(kernel.read_bytes()[:4096]).arch == "x86"          # 32-bit bzImage
    assert stages["kernel_fetched"].evidence["bytes"] == kernel.stat().st_size
    assert "Linux version" in str(stages["kernel_started"].evidence["line"])
    assert "-686 " in str(stages["kernel_started"].evidence["line"])
    events = Registry(out / "server-state" / "registry.sqlite").events(run.mac)
    assert ("booted", "pc-x86-32") in [(e.kind, e.model) for e in events]
    _assert_nothing_left(lab, out)


def test_unknown_submodel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WaltportError, match="not one of its models"):
        boot_board(load_profile(BOARDS / "qemu-x86-64.yaml"), out_dir=tmp_path, model="pc-x86-16")


def test_arm64_bootcommand_in_flash_environment(tmp_path: Path, arm64_root: Path) -> None:
    # SPI-flash analog: no disk; U-Boot runs the bootcommand from its stored environment.
    lab, out = _lab_name("s"), tmp_path / "out"
    report = boot_board(load_profile(BOARDS / "qemu-arm64.yaml"), lab_name=lab,
                        image_root=arm64_root, out_dir=out, timeout=TIMEOUT,
                        first_stage_mode="flash")
    assert report.ok, report.summary()
    assert report.to_json()["first_stage"] == "flash"
    console = Path(report.runs[0].console_log).read_text()
    assert "Hit any key" not in console and "virtio 0" not in console   # bootdelay=-2, no disk
    assert "bootcmd=" in (out / "uboot-env.txt").read_text()
    _assert_nothing_left(lab, out)


def test_failure_names_the_stage(tmp_path: Path, arm64_root: Path) -> None:
    broken = tmp_path / "broken-root"
    shutil.copytree(arm64_root, broken)
    (broken / "boot" / "qemu-arm64" / "kernel").write_bytes(b"not a kernel" * 100)
    lab, out = _lab_name("f"), tmp_path / "out"
    report = boot_board(load_profile(BOARDS / "qemu-arm64.yaml"), lab_name=lab, image_root=broken,
                        out_dir=out, timeout=TIMEOUT)
    run = report.runs[0]
    assert not run.ok and report.success_rate == 0.0
    assert run.failed_stage == "kernel_started"
    assert any("Bad Linux ARM64 Image magic" in ln for ln in run.console_tail)
    assert "failed at stage kernel_started" in report.summary()
    _assert_nothing_left(lab, out)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_leaves_nothing(tmp_path: Path, arm64_root: Path, sig: signal.Signals) -> None:
    """Ctrl-C, and SIGTERM (a closed session, `kill`) the same way: every finally runs."""
    lab, out = _lab_name("c"), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "waltport.cli", "lab", "boot", str(BOARDS / "qemu-arm64.yaml"),
         "--lab", lab, "--image-root", str(arm64_root), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "boot-0" / "console.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and "U-Boot" in log.read_text()):
        time.sleep(0.1)
    assert log.exists(), "QEMU never started"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    _assert_nothing_left(lab, out)
