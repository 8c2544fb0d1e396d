"""Real boards on a bench, without hardware: the bench-in-a-box of ``bench_fixtures``.

waltport runs as its own process inside the bench namespace with nothing
but a bench file (serial port, interface, power commands); the board behind
them is QEMU, which waltport cannot tell.  Each test checks what the run
left: no process naming its output dir or the board's pid file, no address
added to the bench interface.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench_fixtures import BOARDS, BenchBox, bench_box, have_tools, nothing_left, sd_card
from conftest import boot_failures

from waltport.image.rootfs import assemble_default_rootfs
from waltport.lab.imageroot import build_image_root
from waltport.net.server import BenchServer, ServeOn
from waltport.profile.load import load_profile

pytestmark = [
    pytest.mark.root, pytest.mark.qemu,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(not have_tools(), reason="needs socat, QEMU, U-Boot, tcpdump"),
]
TIMEOUT = "240"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchBox]:
    with bench_box(f"wpbench{os.getpid() % 100000}", tmp_path_factory.mktemp("box")) as b:
        yield b


@pytest.fixture(scope="module")
def arm64_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default image of the virtual arm64 board: its own init, dropbear, a kernel."""
    root = tmp_path_factory.mktemp("arm64") / "rootfs"
    assemble_default_rootfs(load_profile(BOARDS / "qemu-arm64.yaml"), root)
    return root


def _report(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.stdout.strip().startswith("{"), done.stderr + done.stdout
    return json.loads(done.stdout)


def _stages(report: dict[str, object]) -> dict[str, dict[str, object]]:
    boot = report["boots"][0]  # type: ignore[index]
    return {s["name"]: s for s in boot["stages"]}


@pytest.mark.slow
def test_uboot_arm64_board_on_the_bench_boots_to_ssh_login(box: BenchBox, arm64_rootfs: Path,
                                                           tmp_path: Path) -> None:
    argv = box.qemu_argv("arm64", "52:54:00:b5:00:01", sd_card("qemu-arm64", tmp_path / "sd.img"))
    bench = box.bench_file("desk-arm64", power=box.qemu_power(argv))
    out = tmp_path / "out"
    done = box.waltport("lab", "boot", str(BOARDS / "qemu-arm64.yaml"), "--bench", str(bench),
                        "--image-root", str(arm64_rootfs), "--out", str(out), "--timeout",
                        TIMEOUT, "--i-know-this-network-is-isolated", "--json")
    report = _report(done)
    assert done.returncode == 0, boot_failures(report)
    boot = report["boots"][0]  # type: ignore[index]
    assert boot["target"] == {"power": "command", "console": "serial", "link": "interface"}
    assert boot["mac"] == "52:54:00:b5:00:01"          # learnt from the wire
    stages = _stages(report)
    assert all(s["status"] == "reached" for s in stages.values()), stages
    assert stages["walt_dhcp"]["evidence"]["vci"] == "walt.node.qemu-arm64"
    assert "Starting kernel" in str(stages["kernel_started"]["evidence"]["line"])
    assert stages["ssh_login"]["evidence"]["output"] == "aarch64"
    # The console log is the serial port's, time-stamped line by line.
    log = Path(str(boot["console_log"])).read_text()
    assert "U-Boot 2023.01" in log and "WALTPORT-IMAGE-INIT" in log
    assert nothing_left(box, out) == []


@pytest.mark.slow
def test_ipxe_x86_64_board_on_the_bench_boots_to_ssh_login(box: BenchBox,
                                                           tmp_path: Path) -> None:
    profile = BOARDS / "qemu-x86-64.yaml"
    argv = box.qemu_argv("x86_64", "52:54:00:b5:00:02")
    bench = box.bench_file("desk-pc", power=box.qemu_power(argv), model="pc-x86-64")
    out = tmp_path / "out"
    done = box.waltport("lab", "boot", str(profile), "--bench", str(bench), "--default-image",
                        "--out", str(out), "--timeout", TIMEOUT,
                        "--i-know-this-network-is-isolated", "--json")
    report = _report(done)
    assert done.returncode == 0, boot_failures(report)
    stages = _stages(report)
    assert stages["first_dhcp"]["evidence"]["vci"] == "PXEClient:Arch:00000:UNDI:002001"
    assert stages["walt_dhcp"]["evidence"]["uci"] == "walt.node.pc-x86-64"
    assert stages["ssh_login"]["evidence"]["output"] == "x86_64"
    assert nothing_left(box, out) == []


def test_board_that_never_sends_dhcp_fails_naming_the_stage(box: BenchBox,
                                                            tmp_path: Path) -> None:
    # "Power on" only makes the board say something on its serial line, then nothing.
    on = f"printf 'BOARD: no network today\\n' > {box.qemu_tty}"
    bench = box.bench_file("mute", power={"on": on, "off": "true"})
    out = tmp_path / "out"
    done = box.waltport("lab", "boot", str(BOARDS / "qemu-arm64.yaml"), "--bench", str(bench),
                        "--out", str(out), "--timeout", "4",
                        "--image-root", str(_lab_root(tmp_path)),
                        "--i-know-this-network-is-isolated", "--json")
    assert done.returncode == 4, done.stderr
    boot = _report(done)["boots"][0]  # type: ignore[index]
    assert boot["failed_stage"] == "first_dhcp"
    assert boot["error"] == "first_dhcp not seen within 4 s"
    assert boot["console_tail"] == ["BOARD: no network today"]
    assert nothing_left(box, out) == []


def _lab_root(tmp_path: Path) -> Path:
    """A minimal image root: the checks only need the names the second stage fetches."""
    boot = tmp_path / "root" / "boot" / "qemu-arm64"
    boot.mkdir(parents=True, exist_ok=True)
    for name in ("start.uboot", "kernel", "initrd"):
        (boot / name).write_bytes(b"x")
    return tmp_path / "root"


@pytest.mark.parametrize("fault", ["missing-tty", "power-fails", "no-interface",
                                   "default-route"])
def test_bench_faults_are_clear_errors_and_leave_nothing(box: BenchBox, tmp_path: Path,
                                                         fault: str) -> None:
    power: object = {"on": "true", "off": "true"}
    interface = "bench0"
    if fault == "power-fails":
        power = {"on": "echo relay not answering >&2; exit 3", "off": "true"}
    if fault == "no-interface":
        interface = "enxdeadbeef"
    bench = box.bench_file(f"fault-{fault}", power=power, interface=interface)
    if fault == "missing-tty":
        bench.write_text(bench.read_text().replace(str(box.tty), "/dev/ttyUSB-nothing"))
    if fault == "default-route":
        subprocess.run(["ip", "-n", box.bench, "addr", "add", "192.168.152.1/24", "dev",
                        "bench0"], check=True)
        subprocess.run(["ip", "-n", box.bench, "link", "set", "bench0", "up"], check=True)
        subprocess.run(["ip", "-n", box.bench, "route", "add", "default", "via",
                        "192.168.152.254"], check=True)
    out = tmp_path / "out"
    try:
        done = box.waltport("lab", "boot", str(BOARDS / "qemu-arm64.yaml"), "--bench",
                            str(bench), "--image-root", str(_lab_root(tmp_path)), "--out",
                            str(out), "--timeout", "5", "--i-know-this-network-is-isolated")
        expected = {"missing-tty": "console: /dev/ttyUSB-nothing does not exist",
                    "power-fails": "power on: `echo relay not answering >&2; exit 3` exited "
                                   "with 3: relay not answering",
                    "no-interface": "interface enxdeadbeef does not exist",
                    "default-route": "interface bench0 carries the default route"}[fault]
        assert done.returncode == 4, done.stderr
        assert expected in done.stderr and "Traceback" not in done.stderr
        if fault != "default-route":
            assert nothing_left(box, out) == []
        else:
            assert nothing_left(box, out) == ["address left on bench0: "
                                              + _addr_line(box)]      # the test's own address
    finally:
        if fault == "default-route":
            subprocess.run(["ip", "-n", box.bench, "route", "del", "default"], check=False)
            subprocess.run(["ip", "-n", box.bench, "addr", "flush", "dev", "bench0"],
                           check=False)


def _addr_line(box: BenchBox) -> str:
    return subprocess.run(["ip", "-n", box.bench, "-4", "-o", "addr", "show", "dev", "bench0"],
                          capture_output=True, text=True, check=False).stdout.strip()


def _tx_packets(box: BenchBox) -> int:
    shown = subprocess.run(["ip", "-n", box.bench, "-s", "-j", "link", "show", "dev", "bench0"],
                           capture_output=True, text=True, check=True).stdout
    return int(json.loads(shown)[0]["stats64"]["tx"]["packets"])


@pytest.mark.slow
def test_passive_bench_judges_a_boot_from_the_capture_alone(box: BenchBox, tmp_path: Path
                                                            ) -> None:
    profile = BOARDS / "qemu-arm64.yaml"
    root = build_image_root(load_profile(profile), None, tmp_path / "image-root")
    # The porter's capture interface: up, silent (no IPv6 autoconfiguration).
    subprocess.run(["ip", "netns", "exec", box.bench, "sysctl", "-qw",
                    "net.ipv6.conf.bench0.disable_ipv6=1"], check=True)
    subprocess.run(["ip", "-n", box.bench, "link", "set", "bench0", "up"], check=True)
    sent_before = _tx_packets(box)
    argv = box.qemu_argv("arm64", "52:54:00:b5:00:03", sd_card("qemu-arm64", tmp_path / "sd.img"))
    bench = box.bench_file("walt-net", power=box.qemu_power(argv),
                           console=False, mode="passive")
    out = tmp_path / "out"
    with box.walt_server_port() as walt_ns, \
            BenchServer(ServeOn(walt_ns, "eth0", None, isolated_ack=True), root,
                        state=tmp_path / "walt-server"):
        done = box.waltport("lab", "boot", str(profile), "--bench", str(bench), "--out",
                            str(out), "--timeout", TIMEOUT, "--json")
    report = _report(done)
    assert done.returncode == 0, boot_failures(report)
    stages = _stages(report)
    assert stages["walt_dhcp"]["evidence"]["vci"] == "walt.node.qemu-arm64"
    assert stages["kernel_fetched"]["status"] == "reached"
    assert stages["kernel_started"]["status"] == "not observable"
    assert "no console" in str(stages["kernel_started"]["reason"])
    assert stages["userspace"]["status"] == "reached"           # the datagram on the wire
    assert "WALTPORT-BOOTED model=qemu-arm64" in str(
        stages["userspace"]["evidence"]["notification_on_wire"])
    assert _tx_packets(box) == sent_before                       # not a packet sent
    assert nothing_left(box, out) == []


@pytest.mark.slow
def test_run_with_a_bench_boots_the_real_board_once_for_both_stages(box: BenchBox,
                                                                    tmp_path: Path) -> None:
    # The network stage boots the board on the bench; the first boot judges that boot:
    # the board is switched on once (the power command counts), one capture for both.
    argv = box.qemu_argv("arm64", "52:54:00:b5:00:04", sd_card("qemu-arm64", tmp_path / "sd.img"))
    switched = tmp_path / "switched-on"
    bench = box.bench_file("desk-run", power={
        "on": f"echo on >> {shlex.quote(str(switched))}; {box.on_command(argv)}",
        "off": box.off_command()})
    out = tmp_path / "run"
    done = box.waltport("run", str(BOARDS / "qemu-arm64.yaml"), "--bench", str(bench),
                        "--i-know-this-network-is-isolated", "--stages",
                        "board,bootloader,network,first_boot", "--out", str(out),
                        "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    network = json.loads((out / "network.json").read_text())
    assert network["data"]["mode"] == "bench"
    assert network["data"]["bench"] == "bench desk-run (interface)"
    assert {c["status"] for c in network["checks"]} == {"pass"}
    first_boot = json.loads((out / "first_boot.json").read_text())
    assert first_boot["status"] == "pass"
    assert first_boot["data"]["target"] == network["data"]["bench"]
    assert first_boot["data"]["boot_source"].startswith("the network stage's boot")
    assert first_boot["artifacts"]["pcap"] == network["artifacts"]["pcap"] == \
        "network/bench/boot-0/capture.pcap"
    assert switched.read_text() == "on\n"
    assert nothing_left(box, out) == []
