"""The lab initramfs: module dependency order, archive contents, and /init under a real shell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from waltport.host.cpio import Entry, read_newc, write_newc
from waltport.image.initramfs import (
    InitramfsError,
    init_script,
    initramfs_entries,
    load_order,
    modinfo_depends,
    resolve_modules,
)

# The tail of a real module's .modinfo section: NUL-separated key=value strings.
MODINFO = (b"\0license=GPL\0depends=virtio_ring,virtio,net_failover\0retpoline=Y\0"
           b"intree=Y\0name=virtio_net\0vermagic=6.1.0-56-amd64 SMP\0")


def test_modinfo_depends() -> None:
    assert modinfo_depends(MODINFO) == ("virtio_ring", "virtio", "net_failover")
    assert modinfo_depends(b"\0depends=\0name=failover\0") == ()
    assert modinfo_depends(b"\0name=x\0") == ()


def test_load_order_puts_dependencies_first() -> None:
    deps = {"virtio_net": ("virtio_ring", "virtio", "net_failover"), "virtio": ("virtio_ring",),
            "virtio_ring": (), "net_failover": ("failover",), "failover": ()}
    order = load_order(["virtio_net"], deps)
    assert order == ["virtio_ring", "virtio", "failover", "net_failover", "virtio_net"]


def test_load_order_errors() -> None:
    with pytest.raises(InitramfsError, match="cycle: a -> b -> a"):
        load_order(["a"], {"a": ("b",), "b": ("a",)})
    with pytest.raises(InitramfsError, match="virtio_net is not in the kernel package"):
        load_order(["virtio_net"], {})


def _fake_module(path: Path, name: str, depends: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF...\0depends=" + depends.encode() + b"\0name=" + name.encode()
                     + b"\0")


def test_resolve_modules_reads_the_tree(tmp_path: Path) -> None:
    _fake_module(tmp_path / "kernel/drivers/net/virtio_net.ko", "virtio_net", "net_failover")
    _fake_module(tmp_path / "kernel/net/core/net_failover.ko", "net_failover", "failover")
    _fake_module(tmp_path / "kernel/net/core/failover.ko", "failover", "")
    _fake_module(tmp_path / "kernel/drivers/virtio/virtio_pci.ko", "virtio_pci", "")
    mods = resolve_modules(tmp_path, ("virtio_pci", "virtio_net"))
    assert [m.name for m in mods] == ["virtio_pci", "failover", "net_failover", "virtio_net"]
    with pytest.raises(InitramfsError, match="netconsole"):
        resolve_modules(tmp_path, ("netconsole",))


def test_archive_contents() -> None:
    entries = initramfs_entries(busybox=b"BB", modules=[("failover", b"F"), ("virtio", b"V")],
                                model="qemu-arm64")
    by_path = {e.path: e for e in read_newc(_newc(entries))}
    assert by_path["dev/console"].rdev == (5, 1)
    assert by_path["init"].mode & 0o111
    assert by_path["bin/sh"].data == b"busybox"
    assert by_path["etc/walt-model"].data == b"qemu-arm64\n"
    assert by_path["lib/modules/load-order"].data == b"failover\nvirtio\n"
    assert by_path["etc/waltport-netconf"].data == b"cmdline\n"


def _newc(entries: list[Entry]) -> bytes:
    return write_newc(entries, mtime=0)


def test_init_names_the_notification_port_and_falls_back_to_poweroff() -> None:
    text = init_script()
    assert "@NOTIFY_PORT@" not in text and "echo 7557 >" in text
    assert "WALTPORT-BOOTED model=$model mac=$mac ip=$addr" in text
    # The NFS root is tried only with the NFS modules on board; any failure
    # says so and powers off (a boot never hangs).
    assert "[ -e /lib/modules/nfsv3.ko ]" in text
    assert "ro,nolock,vers=3,tcp,addr=$server" in text
    assert "lowerdir=/nfs,upperdir=/ram/upper" in text
    assert 'exec switch_root /newroot "$init"' in text
    assert "WALTPORT-NFSROOT-FAILED" in text
    assert text.rstrip().endswith("poweroff -f")


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox not installed")
def test_init_is_valid_busybox_shell(tmp_path: Path) -> None:
    script = tmp_path / "init"
    script.write_text(init_script())
    done = subprocess.run(["busybox", "sh", "-n", str(script)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
