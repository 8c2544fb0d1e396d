"""Sources opened as views: rootfs dir and tarball, docker-archive and oci-archive
(layers, whiteouts), bad archives; path resolution; tarball and extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import image_fixtures as fx
import pytest

from waltport.image.checks import builtin_profile_for, run_checks
from waltport.image.sources import open_path, sniff
from waltport.image.tarball import extract_view, write_rootfs_tar
from waltport.image.view import ImageSourceError, RootView


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
