"""The lab NFS server: its configuration (pure) and a real nfs-ganesha + rpcbind in a lab.

The boot over that server (NFS root, image init, SSH login) is tested in
tests/test_image_podman.py (the default image from podman storage).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from waltport.host.netns import Lab
from waltport.lab.boot import lab_session
from waltport.lab.login import client_address, ssh_argv
from waltport.lab.nfs import MOUNT_PORT, NFS_PORT, NfsError, NfsServer, ganesha_config, node_exports


def _live_in_group(pgid: int) -> list[int]:
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def test_node_exports_use_walts_path(tmp_path: Path) -> None:
    ex = node_exports("192.168.152.10", tmp_path / "root", tmp_path / "lab")
    assert ex == {"/var/lib/walt/nodes/192.168.152.10/fs": (tmp_path / "root").resolve(),
                  "/var/lib/walt/nodes/192.168.152.10/lab": (tmp_path / "lab").resolve()}


def test_ganesha_config_is_v3_read_only_to_the_subnet(tmp_path: Path) -> None:
    text = ganesha_config({"/var/lib/walt/nodes/10.0.0.9/fs": tmp_path},
                          server_ip="10.0.0.1", subnet="10.0.0.0/24")
    assert "Protocols = 3;" in text and "Bind_addr = 10.0.0.1;" in text
    assert "Mount_Path_Pseudo = true;" in text
    assert f'Path = "{tmp_path}";' in text
    assert 'Pseudo = "/var/lib/walt/nodes/10.0.0.9/fs";' in text
    assert "Access_Type = None;" in text     # nobody outside the subnet
    assert "CLIENT { Clients = 10.0.0.0/24; Access_Type = RO; }" in text
    assert "RW" not in text


def test_ssh_runs_in_the_client_namespace(tmp_path: Path) -> None:
    lab = Lab("wpx")
    argv = ssh_argv(lab, tmp_path / "k", "192.168.152.10", "uname -m")
    assert argv[:4] == ["ip", "netns", "exec", "wpx-client"]
    assert argv[-2:] == ["root@192.168.152.10", "uname -m"]
    assert "StrictHostKeyChecking=no" in argv
    assert client_address(lab) == "192.168.152.7/24"     # below the DHCP pool (.9 on)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
@pytest.mark.skipif(shutil.which("ganesha.nfsd") is None or shutil.which("rpcinfo") is None,
                    reason="needs nfs-ganesha and rpcbind (scripts/bootstrap.sh installs them)")
def test_server_registers_mount_and_nfs_v3_and_stops(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    with lab_session(f"wpn{os.getpid() % 100000}") as lab:
        exports = node_exports("192.168.152.10", tmp_path / "root", tmp_path / "root")
        with NfsServer(lab, exports, tmp_path / "nfs") as srv:
            # rpcinfo (rpcbind's client) asks the server's portmapper from the client side.
            lab_ip = ["ip", "-n", lab.client_netns, "addr", "add", "192.168.152.7/24",
                      "dev", lab.client_interface]
            subprocess.run(lab_ip, check=True)
            done = subprocess.run(lab.client_exec_argv(["rpcinfo", "-p", lab.server_ip]),
                                  capture_output=True, text=True, check=False, timeout=30)
            assert done.returncode == 0, done.stderr
            rows = {tuple(r.split()[:4]) for r in done.stdout.splitlines()[1:]}
            assert ("100003", "3", "tcp", str(NFS_PORT)) in rows
            assert ("100005", "3", "tcp", str(MOUNT_PORT)) in rows
            pgid = srv._proc.pid if srv._proc else 0
        assert srv._proc is None
        assert _live_in_group(pgid) == []     # rpcbind went with ganesha
    with pytest.raises(NfsError, match="not a directory"):
        NfsServer(Lab("wpn0"), {"/x": tmp_path / "missing"}, tmp_path / "n2").start()
