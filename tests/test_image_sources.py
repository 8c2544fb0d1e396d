"""Sources opened as views: rootfs dir and tarball, docker-archive and oci-archive
(layers, whiteouts), bad archives; path resolution; tarball and extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import image_fixtures as fx
import pytest

from waltport.image.checks import builtin_profile_for, run_checks
from waltport.image.sources import open_path, sniff
from waltport.image.tarball import extract_view, write_rootfs_tar
from waltport.image.view import MAX_READ, ImageSourceError, RootView


def _layer(files: dict[str, bytes | str | None]) -> bytes:
    """A layer tar: bytes = file, str = symlink target, None = directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


LAYER1 = {"etc": None, "etc/old": b"old", "etc/keep": b"keep", "opt": None, "opt/a": b"a",
          "bin": None, "bin/sh": "busybox"}
LAYER2 = {"etc/.wh.old": b"", "opt/.wh..wh..opq": b"", "opt/b": b"b"}
CONFIG = {"architecture": "arm64", "config": {"Labels": {"walt.node.models": "qemu-arm64"}}}


def _docker_archive(path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        _add(tar, "l1/layer.tar", _layer(LAYER1))
        _add(tar, "l2/layer.tar", _layer(LAYER2))
        _add(tar, "cfg.json", json.dumps(CONFIG).encode())
        _add(tar, "manifest.json", json.dumps([{"Config": "cfg.json", "RepoTags": ["x:1"],
                                                "Layers": ["l1/layer.tar", "l2/layer.tar"]}])
             .encode())
    return path


def _oci_archive(path: Path) -> Path:
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> str:
        d = hashlib.sha256(data).hexdigest()
        blobs[d] = data
        return f"sha256:{d}"

    layers = [blob(gzip.compress(_layer(LAYER1), mtime=0)), blob(_layer(LAYER2))]
    manifest = {"config": {"digest": blob(json.dumps(CONFIG).encode())},
                "layers": [{"digest": d} for d in layers]}
    index = {"manifests": [{"digest": blob(json.dumps(manifest).encode())}]}
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", json.dumps(index).encode())
        for d, data in blobs.items():
            _add(tar, f"blobs/sha256/{d}", data)
    return path


@pytest.mark.parametrize("make", [_docker_archive, _oci_archive])
def test_layered_archives_apply_whiteouts(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / "img.tar")
    with open_path(path) as view:
        assert view.arch == "arm64" and view.labels["walt.node.models"] == "qemu-arm64"
        assert view.get("/etc/old") is None and view.read("/etc/keep") == b"keep"
        assert view.children("/opt") == ["b"]
        assert view.get("/bin/sh") is not None and view.get("/bin/sh").target == "busybox"


def test_rootfs_tarball_gz_and_dir_give_the_same_checks(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path / "root")
    view = fx.view_of(root)
    tar = write_rootfs_tar(view, tmp_path / "rootfs.tar")
    gz = tmp_path / "rootfs.tar.gz"
    gz.write_bytes(gzip.compress(tar.read_bytes(), mtime=0))
    profile = builtin_profile_for("qemu-arm64")
    expected = [(r.name, r.status) for r in run_checks(view, "qemu-arm64", profile).results]
    for src in (tar, gz):
        assert sniff(src) == "rootfs-tarball"
        with open_path(src) as v:
            v.labels = dict(fx.LABELS)
            got = [(r.name, r.status) for r in run_checks(v, "qemu-arm64", profile).results]
        assert got == expected


def test_rootfs_tarball_is_deterministic_and_extracts_back(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path / "root")
    a = write_rootfs_tar(fx.view_of(root), tmp_path / "a.tar", mtime=1700000000)
    b = write_rootfs_tar(fx.view_of(root), tmp_path / "b.tar", mtime=1700000000)
    assert a.read_bytes() == b.read_bytes()
    with open_path(a) as view:
        out = extract_view(view, tmp_path / "out").root
    assert (out / "boot/qemu-arm64/kernel").is_symlink()
    assert (out / "boot/qemu-arm64/kernel").resolve() == (out / f"boot/vmlinuz-{fx.VERSION}")
    assert (out / "bin/busybox").read_bytes() == (root / "bin/busybox").read_bytes()


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\x1f\x8bnot gzip at all"])
def test_unreadable_archives_are_named_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tar"
    path.write_bytes(content)
    with pytest.raises(ImageSourceError, match=r"bad\.tar"):
        open_path(path)


def test_archive_with_missing_layer(tmp_path: Path) -> None:
    path = tmp_path / "img.tar"
    with tarfile.open(path, "w") as tar:
        _add(tar, "cfg.json", b"{}")
        _add(tar, "manifest.json", b'[{"Config": "cfg.json", "Layers": ["gone.tar"]}]')
    with pytest.raises(ImageSourceError, match=r"layer gone\.tar listed but missing"):
        open_path(path)


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ImageSourceError, match="no such file"):
        open_path(tmp_path / "nope")


def test_resolution_semantics(tmp_path: Path) -> None:
    root = tmp_path / "r"
    fx.put(root, "boot/vmlinuz", b"k")
    fx.link(root, "boot/m/abs", "/boot/vmlinuz")
    fx.link(root, "boot/m/rel", "../vmlinuz")
    fx.link(root, "boot/m/loop", "loop")
    fx.link(root, "boot/m/up", "../../../../boot/vmlinuz")
    view: RootView = fx.view_of(root)
    assert view.resolve("/boot/m/abs").ok          # chroot semantics: inside the image
    assert not view.resolve("/boot/m/abs", tftp=True).ok
    assert view.resolve("/boot/m/rel", tftp=True).ok
    assert view.resolve("/boot/m/up").ok           # '..' stops at / in a chroot
    assert "escapes" in view.resolve("/boot/m/up", tftp=True).reason
    assert "too many levels" in view.resolve("/boot/m/loop").reason


def _good_tar_plus(tmp_path: Path, extra: list[tarfile.TarInfo]) -> Path:
    """The good arm64 rootfs as a tarball, with ``extra`` members appended."""
    root = fx.good_arm64(tmp_path / "root")
    tar = write_rootfs_tar(fx.view_of(root), tmp_path / "img.tar")
    with tarfile.open(tar, "a") as t:
        for info in extra:
            t.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return tar


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def test_odd_member_names_are_findings_not_renames(tmp_path: Path) -> None:
    """Issue 14 item 10: '..' and absolute names were silently normalised."""
    tar = _good_tar_plus(tmp_path, [_member("../etc/evil"), _member("/abs/file"),
                                    _member("./bin/../../up"),
                                    _member("./hl", tarfile.LNKTYPE, "../../etc/shadow")])
    with open_path(tar) as view:
        assert view.get("/etc/evil") is None and view.get("/abs/file") is None
        assert view.get("/up") is None and view.get("/hl") is None
        view.labels = dict(fx.LABELS)
        rep = run_checks(view, "qemu-arm64", builtin_profile_for("qemu-arm64"))
    res = rep.get("archive.members")
    assert res.status == "fail" and res.mandatory and not rep.ok
    text = "\n".join(res.evidence)
    for needle in ("'../etc/evil': '..' in the name", "'/abs/file': absolute name",
                   "'./bin/../../up': '..'", "'./hl': hard link to '../../etc/shadow'"):
        assert needle in text, res.evidence
    assert [r.name for r in rep.failed] == ["archive.members"]


def test_a_fifo_as_the_kernel_fails_those_checks_only(tmp_path: Path) -> None:
    """Issue 14 item 10: a device node or FIFO as the kernel aborted the whole check."""
    root = fx.good_arm64(tmp_path / "root")
    kernel = root / f"boot/vmlinuz-{fx.VERSION}"
    kernel.unlink()
    os.mkfifo(kernel)
    (root / f"boot/config-{fx.VERSION}").unlink()      # so the kernel itself is read
    rep = run_checks(fx.view_of(root, fx.LABELS), "qemu-arm64",
                     builtin_profile_for("qemu-arm64"))
    assert {r.name for r in rep.failed} == {"kernel.config", "kernel.arch", "kernel.cpu"}
    assert any("is a other, not a file" in e for e in rep.get("kernel.arch").evidence)
    assert rep.get("init").status == "pass"


def test_sparse_member_claiming_100_gib(tmp_path: Path) -> None:
    """Issue 14 item 4: a PAX sparse member claiming 100 GiB raised MemoryError."""
    pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "bin/busybox",
           "GNU.sparse.realsize": str(100 << 30)}
    root = fx.good_arm64(tmp_path / "root")
    (root / "bin/busybox").unlink()
    tar = write_rootfs_tar(fx.view_of(root), tmp_path / "img.tar")
    with tarfile.open(tar, "a", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("./GNUSparseFile.0/busybox")
        sparse_map = b"1\n0\n4\n".ljust(512, b"\0")
        info.size, info.pax_headers = len(sparse_map) + 4, pax
        t.addfile(info, io.BytesIO(sparse_map + b"ELF!"))
    done = subprocess.run([sys.executable, "-m", "waltport.cli", "image", "check", str(tar),
                           "--model", "qemu-arm64"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    assert "sparse file (107374182400 bytes claimed): not read" in done.stdout


def test_member_read_into_memory_is_capped(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path / "root")
    with open(root / "bin/busybox", "r+b") as f:      # a hole: no disk used
        f.truncate(MAX_READ + 1)
    view = fx.view_of(root, fx.LABELS)
    with pytest.raises(ImageSourceError, match="more than the 256 MiB"):
        view.read("/bin/busybox")
    rep = run_checks(view, "qemu-arm64", builtin_profile_for("qemu-arm64"))
    assert rep.get("busybox.applets").status == "fail"


def test_a_200_mib_kernel_is_streamed(tmp_path: Path) -> None:
    """Issue 14 item 10: the embedded config search held the whole kernel (460 MB for
    200 MiB); now its peak is a few chunks."""
    root = fx.good_arm64(tmp_path / "root")
    config = (root / f"boot/config-{fx.VERSION}").read_bytes()
    (root / f"boot/config-{fx.VERSION}").unlink()
    kernel = root / f"boot/vmlinuz-{fx.VERSION}"
    head = kernel.read_bytes()
    with open(kernel, "r+b") as f:
        f.truncate(200 << 20)
        f.seek(150 << 20)
        f.write(b"IKCFG_ST" + gzip.compress(config, mtime=0) + b"IKCFG_ED")
    with open(kernel, "rb") as f:
        assert f.read(len(head)) == head
    view = fx.view_of(root, fx.LABELS)
    tracemalloc.start()
    try:
        rep = run_checks(view, "qemu-arm64", builtin_profile_for("qemu-arm64"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rep.get("kernel.config").status == "pass", rep.get("kernel.config").evidence
    assert "embedded IKCONFIG" in rep.get("kernel.config").evidence[0]
    assert peak < 64 << 20, peak


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to run the command as another user")
def test_unreadable_archive_is_a_named_error(tmp_path: Path) -> None:
    """Issue 14 item 4: ``image check`` on a tar its user cannot read gave a traceback."""
    top = Path(tempfile.mkdtemp(prefix="hd-perm-"))     # reachable by another user
    try:
        top.chmod(0o755)
        tar = write_rootfs_tar(fx.view_of(fx.good_arm64(tmp_path / "root")), top / "img.tar")
        tar.chmod(0o000)
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-m", "waltport.cli", "image", "check", str(tar), "--model", "qemu-arm64"],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "WALTPORT_STATE": str(top / "state"), "HOME": str(top)})
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert f"{tar}: cannot read: Permission denied" in done.stderr
    finally:
        shutil.rmtree(top)
