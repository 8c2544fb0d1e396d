"""The bench server's config: a typed value; argv written and read only at the process edges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from net_fixtures import make_image_root, needs_root

from waltport.cli import main
from waltport.errors import UsageError
from waltport.host.netns import BRIDGE, Lab
from waltport.net.serveconfig import ServeConfig, parse_argv
from waltport.net.server import ServeOn, serve_argv

FULL = ServeConfig("eth1", Path("/srv/root"), Path("/var/st"), lab="wprm-lab", isolated=True,
                   pxe_first_stage=Path("/srv/undionly.kpxe"), tftp_workers=3, lifeline_fd=7)


@pytest.mark.parametrize("config", [FULL, ServeConfig("br0", Path("r"), Path("s"))],
                         ids=["every-field", "defaults"])
def test_argv_reads_back_as_the_same_config(config: ServeConfig) -> None:
    assert parse_argv(config.argv()) == config


def test_the_parent_starts_the_process_with_the_configs_argv() -> None:
    lab = Lab("wprm-cfg")
    argv = serve_argv(lab, Path("/srv/root"), None, Path("/var/st"), 2, lifeline_fd=5)
    assert argv[:5] == ["ip", "netns", "exec", lab.netns, sys.executable]
    assert argv[5:7] == ["-m", "waltport.net.serve"]
    assert parse_argv(argv[7:]) == ServeConfig(BRIDGE, Path("/srv/root"), Path("/var/st"),
                                               lab="wprm-cfg", tftp_workers=2, lifeline_fd=5)
    bench = serve_argv(ServeOn(None, "eth3", isolated_ack=True), Path("r"), Path("p"),
                       Path("s"))
    assert bench[:3] == [sys.executable, "-m", "waltport.net.serve"]
    assert parse_argv(bench[3:]) == ServeConfig("eth3", Path("r"), Path("s"), isolated=True,
                                                pxe_first_stage=Path("p"))


def test_bad_worker_count_is_a_usage_error_everywhere(capsys: pytest.CaptureFixture[str]) \
        -> None:
    with pytest.raises(UsageError, match="--tftp-workers must be >= 1, got 0"):
        ServeConfig("eth0", Path("r"), Path("s"), tftp_workers=0)
    with pytest.raises(SystemExit) as exc:
        parse_argv(["--interface", "eth0", "--image-root", "r", "--state", "s",
                    "--tftp-workers", "0"])
    assert exc.value.code == 2 and "expected a whole number >= 1, got '0'" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--lab", "wprm-none", "--image-root", "r", "--tftp-workers", "x"])
    assert exc.value.code == 2 and "got 'x'" in capsys.readouterr().err


@pytest.mark.root
@needs_root
def test_serve_on_an_interface_runs_the_engine_in_process(tmp_path: Path) -> None:
    """``waltport serve --interface``: the CLI builds the config, the engine serves, READY."""
    ns = f"wprm-serve-{os.getpid() % 100000}"
    run = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        # Both ends of the link inside the namespace: nothing can leave this machine.
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "wprm0", "type", "veth", "peer", "name", "wprm1"],
                    ["ip", "addr", "add", "10.213.99.1/24", "dev", "wprm0"],
                    ["ip", "link", "set", "wprm0", "up"], ["ip", "link", "set", "wprm1", "up"]):
            subprocess.run([*run, *cmd], check=True)
        state = tmp_path / "state"
        serve = subprocess.Popen(
            [*run, sys.executable, "-m", "waltport.cli", "serve", "--interface", "wprm0",
             "--i-know-this-network-is-isolated", "--image-root",
             str(make_image_root(tmp_path / "img")), "--state", str(state),
             "--tftp-workers", "1"], stdout=subprocess.PIPE, text=True)
        try:
            assert serve.stdout is not None
            line = serve.stdout.readline()
            assert line.startswith("READY "), line
            ready = json.loads(line.removeprefix("READY "))
            assert (ready["server_ip"], ready["interface"]) == ("10.213.99.1", "wprm0")
            assert len(ready["tftp_pids"]) == 1
        finally:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(20) == 0
        assert (state / "registry.sqlite").is_file() and (state / "server.log").is_file()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
