"""The command-line contract: lab up/status/down, serve, devices, capture, analyze."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from net_fixtures import make_image_root, needs_root, udhcpc

from waltport.host.netns import Lab

WP = [sys.executable, "-m", "waltport.cli"]


def wp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WP, *args], capture_output=True, text=True, timeout=60, check=False)


def test_bad_arguments_give_one_line() -> None:
    done = wp("analyze", "/nonexistent.pcap")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not found" in done.stderr
    done = wp("serve", "--interface", "eth0", "--image-root", "/tmp")
    assert done.returncode == 2 and "--i-know-this-network-is-isolated" in done.stderr
    done = wp("lab", "up", "--name", "Bad_Name")
    assert done.returncode == 3 and "bad lab name" in done.stderr


@pytest.mark.root
@needs_root
def test_lab_serve_devices_capture(tmp_path: Path) -> None:
    name = f"wpt-cli-{os.getpid() % 100000}"
    state = tmp_path / "state"
    img = make_image_root(tmp_path / "img")
    try:
        assert wp("lab", "up", "--name", name).returncode == 0
        st = wp("lab", "status", "--name", name, "--json")
        assert st.returncode == 0 and json.loads(st.stdout)["up"]
        serve = subprocess.Popen([*WP, "serve", "--lab", name, "--image-root", str(img),
                                  "--state", str(state)], stdout=subprocess.PIPE, text=True)
        assert serve.stdout is not None and "serving lab" in serve.stdout.readline()
        cap = subprocess.Popen([*WP, "capture", "--lab", name, "--interface", "br0", "--out",
                                str(tmp_path / "c.pcap"), "--duration", "4"],
                               stdout=subprocess.PIPE, text=True)
        assert cap.stdout is not None and "capturing" in cap.stdout.readline()
        lab = Lab(name)
        udhcpc(lab, tmp_path, "-V", "walt.node.testm")
        assert cap.wait(20) == 0
        devs = wp("devices", "--lab", name, "--state", str(state), "--json")
        assert [d["model"] for d in json.loads(devs.stdout)] == ["testm"]
        serve.send_signal(signal.SIGINT)
        assert serve.wait(20) == 0
        out = json.loads(wp("analyze", str(tmp_path / "c.pcap"), "--json").stdout)
        assert [m["type"] for t in out["dhcp"] for m in t["messages"]] == [
            "DISCOVER", "OFFER", "REQUEST", "ACK"]
    finally:
        wp("lab", "down", "--name", name)
    time.sleep(0.1)
    assert wp("lab", "status", "--name", name).returncode == 1
