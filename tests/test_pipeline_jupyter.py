"""`waltport jupyter`: JupyterLab on loopback with a token and the venv kernel, not in $HOME."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pipeline_fixtures import _jupyter_dirs, jupyter_root  # noqa: F401

from waltport.commands.run import jupyter_command
from waltport.pipeline.jupyter import ensure_kernelspec, jupyter_env


def test_kernelspec_runs_the_venv_python(tmp_path: Path) -> None:
    env = jupyter_env(tmp_path)
    spec = json.loads(ensure_kernelspec(env).read_text())
    assert spec["argv"][:3] == [sys.executable, "-m", "ipykernel_launcher"]
    assert all(v.startswith(str(tmp_path)) for k, v in env.items() if k.endswith("DIR"))


def test_command_listens_on_loopback_with_a_token() -> None:
    argv = jupyter_command(8899, "abc")
    assert "--ip=127.0.0.1" in argv and "--IdentityProvider.token=abc" in argv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_jupyterlab_serves_the_notebooks_and_the_kernel(jupyter_root: Path) -> None:  # noqa: F811
    port, token = _free_port(), "waltport-test-token"
    env = {**os.environ, "WALTPORT_JUPYTER_TOKEN": token}
    proc = subprocess.Popen([sys.executable, "-m", "waltport.cli", "jupyter", "--port",
                             str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, specs = time.monotonic() + 60, None
        while time.monotonic() < deadline and specs is None:
            try:
                with urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}",
                                            timeout=2) as r:
                    specs = json.load(r)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert specs is not None, "JupyterLab did not answer"
        assert "waltport" in specs["kernelspecs"]
        with urllib.request.urlopen(f"{base}/api/contents/notebooks?token={token}",
                                    timeout=5) as r:
            names = {c["name"] for c in json.load(r)["content"]}
        assert "00-board.ipynb" in names
        with pytest.raises(urllib.error.HTTPError):     # no token, no access
            urllib.request.urlopen(f"{base}/api/contents/notebooks", timeout=5)
        assert (jupyter_root / "runtime").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)   # the session we started: jupyter and its child
        proc.wait(timeout=30)
