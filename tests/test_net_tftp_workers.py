"""TFTP worker processes: concurrent real clients, a worker's death, SIGTERM and parent death."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from net_fixtures import MODEL, image_root, lab, needs_root, transfer_records, udhcpc  # noqa: F401

from waltport.host.netns import Lab
from waltport.net.server import BenchServer, ServerError
from waltport.net.tftp_workers import default_workers


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1])


def _fetch(lab: Lab, out: Path) -> subprocess.CompletedProcess[str]:  # noqa: F811
    argv = ["tftp", lab.server_ip, "-m", "binary", "-c", "get", "kernel", str(out)]
    return subprocess.run(lab.client_exec_argv(argv), capture_output=True, text=True,
                          timeout=60, check=False)


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(_alive(p) for p in pids)


def test_default_and_bad_worker_counts(tmp_path: Path) -> None:
    assert default_workers() == max(2, os.cpu_count() or 1)
    with pytest.raises(ServerError, match="tftp_workers"):
        BenchServer(Lab("wpt-unused"), tmp_path, tftp_workers=0)


@pytest.mark.root
@needs_root
def test_workers_serve_concurrently_survive_a_death_stop_on_sigterm(
        lab: Lab, image_root: Path, tmp_path: Path) -> None:  # noqa: F811
    want = (image_root / "vmlinuz").read_bytes()
    with BenchServer(lab, image_root, state=tmp_path / "state", tftp_workers=3) as srv:
        pids = srv.info["tftp_pids"]
        assert isinstance(pids, list) and len(pids) == 3
        assert all(_parent_of(p) == srv.pid for p in pids)
        ip = udhcpc(lab, tmp_path, "-V", f"walt.node.{MODEL}")["ip"]
        with ThreadPoolExecutor(12) as pool:
            done = list(pool.map(lambda n: _fetch(lab, tmp_path / f"k{n}"), range(12)))
        assert [d.returncode for d in done] == [0] * 12, [d.stderr for d in done]
        assert all((tmp_path / f"k{n}").read_bytes() == want for n in range(12))
        # Every line whole (one write per record from 3 processes), one per transfer.
        recs = transfer_records(srv.transfer_log, count=12)
        assert len(srv.transfer_log.read_text().splitlines()) == len(recs) == 12
        assert {(r.client, r.result, r.remapped) for r in recs} == {
            (ip, "ok", f"nodes/{ip}/tftp/kernel")}
        served = {int(line.split()[2]) for line in srv.log_path.read_text().splitlines()
                  if " waltport.net.tftp INFO tftp: " in line}
        assert served and served <= set(pids)
        # A dead worker leaves the others serving the shared socket.
        os.kill(pids[0], signal.SIGKILL)
        assert _gone_within(pids[:1], 5)
        for n in range(4):
            assert _fetch(lab, tmp_path / f"after{n}").returncode == 0
            assert (tmp_path / f"after{n}").read_bytes() == want
        time.sleep(1.5)  # the parent checks its workers every second
        assert "a TFTP worker died: 2 of 3 left" in srv.log_path.read_text()
        assert srv.stop() == 0
    assert _gone_within(pids, 2)


@pytest.mark.root
@needs_root
def test_workers_leave_with_a_killed_parent(lab: Lab, image_root: Path,  # noqa: F811
                                            tmp_path: Path) -> None:
    with BenchServer(lab, image_root, state=tmp_path / "state") as srv:
        pids = srv.info["tftp_pids"]
        assert isinstance(pids, list) and len(pids) == default_workers()
        assert srv.pid is not None
        os.kill(srv.pid, signal.SIGKILL)
        assert _gone_within(pids, 5)
