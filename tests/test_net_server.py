"""The bench server never outlives ``waltport serve`` (issue 14, item 7) and one state dir
has one server (item 11): real processes in a real lab, killed the ways a porter would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_fixtures import make_image_root, needs_root

from waltport.cli import main
from waltport.host.netns import Lab
from waltport.net.server import BenchServer

WP = [sys.executable, "-m", "waltport.cli"]
pytestmark = [pytest.mark.root, needs_root]


@pytest.fixture(scope="module")
def srv_lab() -> Iterator[Lab]:
    lab = Lab(f"hdn-srv-{os.getpid() % 100000}").up()
    try:
        yield lab
    finally:
        lab.down()


def _pids(lab: Lab) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", lab.netns], capture_output=True, text=True,
                         check=True).stdout
    return [int(p) for p in out.split()]


def _wait_empty(lab: Lab, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _pids(lab)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _serve(lab: Lab, tmp: Path) -> subprocess.Popen[str]:
    img = tmp / "img"
    if not img.exists():
        make_image_root(img)
    proc = subprocess.Popen([*WP, "serve", "--lab", lab.name, "--image-root", str(img),
                             "--state", str(tmp / "state")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and "serving lab" in proc.stdout.readline()
    assert len(_pids(lab)) >= 3           # the server and at least two TFTP workers
    return proc


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL], ids=["hup", "kill"])
def test_serve_leaves_nothing_behind(srv_lab: Lab, tmp_path: Path, sig: int) -> None:
    proc = _serve(srv_lab, tmp_path)
    proc.send_signal(sig)
    code = proc.wait(20)
    assert _wait_empty(srv_lab) == []
    if sig == signal.SIGHUP:
        assert code == 0
        assert proc.stdout is not None and "bench server stopped" in proc.stdout.read()
    # The ports are free: the next serve starts (it failed with EADDRINUSE before).
    again = _serve(srv_lab, tmp_path)
    again.send_signal(signal.SIGTERM)
    assert again.wait(20) == 0
    assert _wait_empty(srv_lab) == []


def test_second_serve_on_the_same_state_is_refused(srv_lab: Lab, tmp_path: Path,
                                                   capsys) -> None:
    img = make_image_root(tmp_path / "img")
    state = tmp_path / "state"
    with BenchServer(srv_lab, img, state=state) as first:
        with (state / "serve.stderr").open("a") as f:
            f.write("first server's own line\n")
        assert main(["serve", "--lab", srv_lab.name, "--image-root", str(img),
                     "--state", str(state)]) == 5
        err = capsys.readouterr().err
        assert f"(pid {os.getpid()}) already runs on state dir" in err
        assert first.running
        assert "first server's own line" in (state / "serve.stderr").read_text()
    assert _wait_empty(srv_lab) == []
