"""``waltport probe`` on the bench in a box: Debian's real U-Boot, seen only through a bench file.

The probe runs as its own process in the bench namespace with a bench file
(pty console, veth link, power commands that start QEMU); the boards are
Debian's qemu_arm64 U-Boot (virtio-net) and Debian's Raspberry Pi 3 U-Boot
(``u-boot-rpi``, ``rpi_3``) on QEMU's raspi3b, which emulates no network
adapter U-Boot knows.  One probe per board; the assertions share it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench_fixtures import BOARDS, BenchBox, bench_box, have_tools, nothing_left

from waltport.host.apt import fetch_kernel
from waltport.image.debs import fetch_tree

pytestmark = [
    pytest.mark.root, pytest.mark.qemu,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(not have_tools(), reason="needs socat, QEMU, U-Boot, tcpdump"),
]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchBox]:
    with bench_box(f"pr{os.getpid() % 100000}", tmp_path_factory.mktemp("box")) as b:
        yield b


def _probe(box: BenchBox, name: str, argv: list[str], out: Path, *extra: str
           ) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    bench = box.bench_file(name, power=box.qemu_power(argv))
    done = box.waltport("probe", "--bench", str(bench), "--out", str(out),
                        "--i-know-this-network-is-isolated", *extra, timeout=300)
    report = json.loads((out / "probe.json").read_text()) if (out / "probe.json").exists() \
        else {}
    return done, report


@pytest.fixture(scope="module")
def arm64(box: BenchBox, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, object], Path]:
    out = tmp_path_factory.mktemp("probe-arm64") / "out"
    done, report = _probe(box, "desk-arm64", box.qemu_argv("arm64", "52:54:00:b5:01:01"), out)
    return done, report, out


def raspi3b_argv(box: BenchBox) -> list[str]:
    """Debian's rpi_3 U-Boot on QEMU raspi3b, its mini UART (QEMU's 2nd serial) on the pty."""
    uboot = fetch_tree("u-boot-rpi", "arm64").root / "usr/lib/u-boot/rpi_3/u-boot.bin"
    kernel = fetch_kernel("arm64", flavour="arm64")
    dtb = kernel.image.parents[1] / f"usr/lib/linux-image-{kernel.version}" / \
        "broadcom/bcm2837-rpi-3-b.dtb"
    return ["qemu-system-aarch64", "-M", "raspi3b", "-accel", "tcg", "-no-reboot",
            "-display", "none", "-monitor", "none", "-kernel", str(uboot), "-dtb", str(dtb),
            "-serial", "null", "-chardev", f"serial,id=s0,path={box.qemu_tty}",
            "-serial", "chardev:s0", "-daemonize", "-pidfile", str(box.pidfile)]


@pytest.mark.slow
def test_probe_of_qemu_arm64_uboot_finds_its_nic_and_drafts_a_profile(box: BenchBox, arm64: tuple[
        subprocess.CompletedProcess[str], dict[str, object], Path]) -> None:
    done, report, out = arm64
    assert done.returncode == 0, done.stderr + done.stdout
    facts = report["facts"]
    assert isinstance(facts, dict)
    assert facts["version"].startswith("U-Boot 2023.01")
    assert facts["arch"] == "arm64"
    assert facts["net_devices"][0]["driver"].startswith("virtio-net")
    assert facts["net_devices"][0]["mac"] == "52:54:00:b5:01:01"
    assert facts["env"]["bootdelay"] == "2"
    assert facts["dhcp"]["bound"] and facts["dhcp"]["address"].startswith("192.168.152.")
    assert facts["setexpr_sub"] is True
    tftp = facts["tftp"]
    assert [t["ok"] for t in tftp] == [True, True, True]
    assert all(t["bytes"] == 4 << 20 for t in tftp)
    # The server's records say what was used on the wire: a window of 16 is honoured,
    # a 4096-byte block is not (this build has no IP_DEFRAG and keeps 1468).
    assert (tftp[1]["wire_windowsize"], tftp[1]["honoured"]) == (16, True)
    assert (tftp[2]["wire_blksize"], tftp[2]["honoured"]) == (1468, False)
    assert [r["requested"] for r in report["tftp_server"]] == ["probe.bin"] * 3
    verdicts = {v["key"]: v for v in report["verdicts"]}
    assert verdicts["nic"]["status"] == "ok"
    assert verdicts["nic"]["text"].startswith("the network adapter works in this U-Boot")
    assert not any("saveenv" in e["command"] for e in report["exchanges"])
    # The draft passes `waltport check` as it is.
    draft = out / "desk-arm64.yaml"
    assert report["draft"]["check_problems"] == [] and draft.is_file()
    check = box.waltport("check", str(draft))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "U-Boot 2023.01" in (out / "console.log").read_text()
    assert nothing_left(box, out) == []


@pytest.mark.slow
def test_probe_of_raspberry_pi_3_uboot_reads_the_board_and_says_no_nic(box: BenchBox,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    done, report = _probe(box, "desk-rpi3", raspi3b_argv(box), out, "--profile",
                          str(BOARDS / "rpi.yaml"))
    assert done.returncode == 1, done.stderr + done.stdout      # a problem verdict
    facts = report["facts"]
    assert isinstance(facts, dict)
    assert facts["env"]["fdtfile"] == "broadcom/bcm2837-rpi-3-b.dtb"
    assert facts["env"]["board_name"] == "3 Model B"
    assert facts["net_line"] == "No ethernet found."
    assert facts["has_nic"] is False and facts["dhcp"]["no_ethernet"]
    verdicts = {v["key"]: v for v in report["verdicts"]}
    assert verdicts["nic"]["status"] == "problem"
    assert "a network bootloader is not possible with this U-Boot" in verdicts["nic"]["text"]
    assert "no driver for the board's network adapter" in done.stdout
    # The porter's profile, checked against the board: its rules detect what U-Boot read.
    assert verdicts["profile.detect"]["text"] == (
        "the profile's rules select rpi-3-b from fdtfile='broadcom/bcm2837-rpi-3-b.dtb'")
    assert (out / "rpi.yaml").is_file()               # named after the profile
    assert report["draft"]["profile"]["samples"] == {"broadcom/bcm2837-rpi-3-b.dtb": "rpi-3-b"}
    assert report["draft"]["check_problems"] == []
    assert nothing_left(box, out) == []


def test_board_that_never_shows_a_prompt_fails_with_the_console_tail(box: BenchBox,
                                                                     tmp_path: Path) -> None:
    on = f"printf 'BOARD: silent bootloader\\n' > {box.qemu_tty}"
    bench = box.bench_file("mute", power={"on": on, "off": "true"})
    out = tmp_path / "out"
    done = box.waltport("probe", "--bench", str(bench), "--out", str(out), "--timeout", "3",
                        "--i-know-this-network-is-isolated", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "no bootloader prompt" in done.stderr and "Traceback" not in done.stderr
    assert "  | BOARD: silent bootloader" in done.stderr
    report = json.loads((out / "probe.json").read_text())
    assert report["error"].startswith("no bootloader prompt")
    assert not (out / "mute.yaml").exists()      # no facts, no draft
    assert nothing_left(box, out) == []


@pytest.mark.slow
def test_autoboot_that_cannot_be_stopped_and_ctrl_c_leave_nothing(box: BenchBox,
                                                                  tmp_path: Path) -> None:
    # A countdown text this U-Boot never prints: it boots on (distro boot, DHCP...).
    argv = box.qemu_argv("arm64", "52:54:00:b5:01:02")
    bench = box.bench_file("no-stop", power=box.qemu_power(argv))
    out = tmp_path / "out"
    done = box.waltport("probe", "--bench", str(bench), "--out", str(out), "--countdown",
                        "Press X to stop", "--timeout", "8",
                        "--i-know-this-network-is-isolated", timeout=120)
    assert done.returncode == 2, done.stderr
    assert "the autoboot cannot be interrupted" in done.stderr
    assert nothing_left(box, out) == []
    # Ctrl-C while the board boots: power off, server and console closed, no output dir.
    waltport = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "waltport")
    out2 = tmp_path / "out2"
    proc = subprocess.Popen(["ip", "netns", "exec", box.bench, waltport, "probe", "--bench",
                             str(bench), "--out", str(out2), "--countdown", "Press X to stop",
                             "--timeout", "60", "--i-know-this-network-is-isolated"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not box.pidfile.exists():             # powered on
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out2.exists() and not box.pidfile.exists()
    assert nothing_left(box, out2) == []


NOTEBOOK_RUN = """
import sys
from pathlib import Path
from waltport.pipeline.jupyter import jupyter_environment
from waltport.pipeline.runner import execute_notebook
src, dest, bench, out, cwd = map(Path, sys.argv[1:6])
with jupyter_environment(cwd / "jupyter"):
    why = execute_notebook(src, dest, {"bench": str(bench), "out_dir": str(out),
                                       "isolated": True}, cwd, 120)
print(why or "ok")
"""


@pytest.mark.slow
def test_probe_notebook_shows_verdicts_facts_transcript_and_draft(box: BenchBox,
                                                                 tmp_path: Path) -> None:
    argv = box.qemu_argv("arm64", "52:54:00:b5:01:03")
    bench = box.bench_file("desk-nb", power=box.qemu_power(argv))
    root = Path(__file__).resolve().parent.parent
    dest, out = tmp_path / "06-probe.ipynb", tmp_path / "run"
    done = subprocess.run(["ip", "netns", "exec", box.bench, str(root / ".venv/bin/python"),
                           "-c", NOTEBOOK_RUN, str(root / "notebooks/06-probe.ipynb"),
                           str(dest), str(bench), str(out), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.stdout.strip() == "ok", done.stdout + done.stderr
    shown = json.dumps(json.loads(dest.read_text())["cells"])
    assert "the network adapter works in this U-Boot" in shown        # verdicts
    assert "virtio-net#32" in shown and "kernel_addr_r" in shown       # facts
    assert "Bytes transferred" in shown                                # transcript
    assert "desk-nb.yaml: passes waltport check" in shown             # draft
    assert (out / "probe" / "desk-nb.yaml").is_file()
    assert nothing_left(box, out) == []


def pc_argv(box: BenchBox, work: Path) -> list[str]:
    """The virtual PC of the box with its BIOS console on the serial port (SeaBIOS's sercon,
    as a PC's BIOS console redirection), where iPXE's banner and shell then show."""
    sercon = work / "sercon-port"
    sercon.write_bytes((0x3F8).to_bytes(2, "little"))
    return [*box.qemu_argv("x86_64", "52:54:00:b5:01:04"), "-vga", "std",
            "-fw_cfg", f"name=etc/sercon-port,file={sercon}"]


@pytest.mark.slow
def test_probe_of_ipxe_on_the_virtual_pc_chains_a_script_from_the_bench(box: BenchBox,
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "out"
    done, report = _probe(box, "desk-pc", pc_argv(box, tmp_path), out)
    assert done.returncode == 0, done.stderr + done.stdout
    assert report["bootloader"] == "ipxe" and report["prompt"] == "iPXE> "
    facts = report["facts"]
    assert isinstance(facts, dict)
    assert facts["version"].startswith("iPXE 1.")
    assert facts["net_devices"][0]["driver"] == "virtio-net"
    assert facts["net_devices"][0]["mac"] == "52:54:00:b5:01:04"
    assert facts["cpu_64bit"] is True and facts["arch"] == "x86_64"
    assert facts["settings"]["manufacturer"] == "QEMU"
    assert facts["settings"]["ip"].startswith("192.168.152.")
    assert facts["dhcp_ok"] and facts["chain_ok"]
    verdicts = {v["key"]: v for v in report["verdicts"]}
    assert verdicts["nic"]["text"].startswith("the network adapter works in this iPXE")
    assert verdicts["chain"]["status"] == "ok"
    assert report["draft"]["check_problems"] == []
    assert report["draft"]["profile"]["bootloader"] == "ipxe"
    assert nothing_left(box, out) == []


@pytest.mark.slow
def test_the_drafted_profile_passes_waltport_run_in_the_lab(arm64: tuple[
        subprocess.CompletedProcess[str], dict[str, object], Path], tmp_path: Path) -> None:
    _, _, out = arm64
    root = Path(__file__).resolve().parent.parent
    run = tmp_path / "run"
    done = subprocess.run([str(root / ".venv/bin/waltport"), "run", str(out / "desk-arm64.yaml"),
                           "--out", str(run), "--no-progress",
                           "-p", f"lab_name=pr{os.getpid() % 100000}run"],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if "desk-arm64: " in ln)
    stages = dict(tok.split(":") for tok in line.split("desk-arm64: ")[1].split())
    assert set(stages) >= {"board", "bootloader", "network", "image", "first_boot"}
    assert set(stages.values()) == {"pass"}, line
    first_boot = json.loads((run / "first_boot.json").read_text())
    assert "walt.node.desk-arm64" in json.dumps(first_boot)


def test_bench_faults_are_clear_errors(box: BenchBox, tmp_path: Path) -> None:
    bench = box.bench_file("fault-tty", power={"on": "true", "off": "true"})
    bench.write_text(bench.read_text().replace(str(box.tty), "/dev/ttyUSB-nothing"))
    done = box.waltport("probe", "--bench", str(bench), "--out", str(tmp_path / "a"), timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "console: /dev/ttyUSB-nothing does not exist" in done.stderr
    bench = box.bench_file("fault-if", power={"on": "true", "off": "true"},
                           interface="enxdeadbeef")
    done = box.waltport("probe", "--bench", str(bench), "--out", str(tmp_path / "b"),
                        "--i-know-this-network-is-isolated", timeout=60)
    assert done.returncode == 4 and "interface enxdeadbeef does not exist" in done.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
