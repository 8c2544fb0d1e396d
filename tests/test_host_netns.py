"""The lab network: real namespaces, created, inspected and removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from net_fixtures import make_image_root, needs_root, udhcpc

from waltport.cli import main
from waltport.host.netns import Lab, LabError, is_owned, netns_exists

pytestmark = [pytest.mark.root, needs_root]


def test_names_and_argv() -> None:
    lab = Lab("walt-lab")
    assert (lab.netns, lab.client_netns, lab.bridge) == ("walt-lab", "walt-lab-client", "br0")
    assert lab.server_ip == "192.168.152.1"
    assert lab.exec_argv(["true"]) == ["ip", "netns", "exec", "walt-lab", "true"]


@pytest.mark.parametrize(("name", "subnet"), [("Bad_Name", "192.168.152.0/24"),
                                              ("ok", "8.8.8.0/24"), ("ok", "10.0.0.0/30"),
                                              ("ok", "nonsense")])
def test_bad_arguments_are_refused(name: str, subnet: str) -> None:
    with pytest.raises(LabError):
        Lab(name, subnet)


def test_lab_name_with_a_final_newline_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 14 item 3: ``lab up --name $'x\\n'`` made a namespace with a newline."""
    with pytest.raises(LabError, match="bad lab name"):
        Lab("hd-x\n")
    with pytest.raises(LabError, match="bad tap name"):
        Lab("hd-x").add_tap("tap0\n")
    assert main(["lab", "up", "--name", "hd-x\n"]) == 3
    assert "bad lab name" in capsys.readouterr().err
    assert not netns_exists("hd-x\n")


def test_up_status_tap_down() -> None:
    lab = Lab(f"wpt-netns-{os.getpid() % 100000}", "10.77.5.0/24")
    try:
        lab.up()
        lab.up()  # idempotent
        st = lab.status()
        assert st["up"] and st["server_ip"] == "10.77.5.1"
        links = st["links"][lab.netns]
        assert {"ifname": "br0", "state": "UP", "master": None,
                "addresses": ["10.77.5.1/24"]} in links
        # No way out: neither namespace has a default route.
        for ns in (lab.netns, lab.client_netns):
            routes = subprocess.run(["ip", "-n", ns, "route", "show", "default"],
                                    capture_output=True, text=True, check=True).stdout
            assert routes.strip() == ""
        assert lab.add_tap("tap7") == "tap7"
        assert lab.add_tap("tap7") == "tap7"
        shown = subprocess.run(["ip", "-n", lab.netns, "-o", "link", "show", "tap7"],
                               capture_output=True, text=True, check=True).stdout
        assert "master br0" in shown
        lab.remove_tap("tap7")
        lab.remove_tap("tap7")
        # a process started inside is stopped by down(), once it is inside
        proc = subprocess.Popen(lab.exec_argv(["sleep", "60"]))
        for _ in range(100):
            inside = subprocess.run(["ip", "netns", "pids", lab.netns], capture_output=True,
                                    text=True, check=False).stdout.split()
            if str(proc.pid) in inside:
                break
            time.sleep(0.05)
    finally:
        lab.down()
    assert proc.wait(5) != 0
    assert not netns_exists(lab.netns) and not netns_exists(lab.client_netns)
    assert not is_owned(lab.name)
    lab.down()  # idempotent


def test_foreign_namespace_is_never_touched() -> None:
    name = f"wpt-foreign-{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with pytest.raises(LabError, match="not created by waltport"):
            Lab(name).up()
        with pytest.raises(LabError, match="not created by waltport"):
            Lab(name).down()
        assert netns_exists(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.mark.root
@needs_root
def test_the_lab_subnet_is_recorded_and_used_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 14 item 8: after ``up --subnet``, serve and status used the default subnet,
    and a second ``up`` with another subnet silently added a second address."""
    name = f"hd-subnet-{os.getpid() % 100000}"
    try:
        assert main(["lab", "up", "--name", name, "--subnet", "10.213.77.0/24"]) == 0
        assert main(["lab", "up", "--name", name]) == 0          # idempotent, same subnet
        assert main(["lab", "up", "--name", name, "--subnet", "10.9.9.0/24"]) == 3
        assert "is up with subnet 10.213.77.0/24" in capsys.readouterr().err
        lab = Lab(name)
        assert (lab.subnet, lab.server_ip) == ("10.213.77.0/24", "10.213.77.1")
        st = lab.status()
        assert st["subnet"] == "10.213.77.0/24" and st["server_ip"] == "10.213.77.1"
        (br0,) = [x for x in st["links"][name] if x["ifname"] == "br0"]  # type: ignore[index]
        assert br0["addresses"] == ["10.213.77.1/24"]
        serve = subprocess.Popen(
            [sys.executable, "-m", "waltport.cli", "serve", "--lab", name, "--image-root",
             str(make_image_root(tmp_path / "img")), "--state", str(tmp_path / "state")],
            stdout=subprocess.PIPE, text=True)
        try:
            assert serve.stdout is not None
            assert "on 10.213.77.1 " in serve.stdout.readline()
            got = udhcpc(lab, tmp_path, "-V", "walt.node.testm")
            assert got["ip"].startswith("10.213.77.") and got["siaddr"] == "10.213.77.1"
        finally:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(20) == 0
    finally:
        main(["lab", "down", "--name", name])
    assert not netns_exists(name)


SESSION = """
import sys, time
from waltport.lab.boot import lab_session
with lab_session(sys.argv[1]) as lab:
    print("up", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_leaves_no_namespace(sig: signal.Signals) -> None:
    """Whatever signal ends the process (even SIGKILL: no ``finally`` runs), the
    guardian takes its lab down; SIGINT also reaches it through a process group."""
    name = f"wpt-kill{int(sig)}-{os.getpid() % 100000}"
    proc = subprocess.Popen([sys.executable, "-c", SESSION, name], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        assert netns_exists(name) and netns_exists(f"{name}-client") and is_owned(name)
        os.killpg(proc.pid, sig)              # the whole group, as a terminal would
        proc.wait(timeout=30)
        deadline = time.monotonic() + 120     # the guardian is a new interpreter: slow under load
        while (netns_exists(name) or is_owned(name)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not netns_exists(name) and not netns_exists(f"{name}-client")
        assert not is_owned(name)
    finally:
        if proc.poll() is None:
            proc.kill()
        Lab(name).down()


def test_guardian_pending_labs() -> None:
    from waltport.host.reaper import pending  # noqa: PLC0415

    assert pending(["up a\n", "up b\n", "down a\n", "up c\n", "bogus\n", "down\n"]) == ["b", "c"]
