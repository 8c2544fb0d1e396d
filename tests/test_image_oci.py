"""OCI archives written by waltport: canonical config, same bytes, podman keeps the image ID."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import scoped_env

from waltport.image.oci import (
    Layer,
    OciError,
    image_config,
    image_id,
    image_index,
    image_manifest,
    iso_time,
    layer_of,
    write_oci_archive,
)
from waltport.image.podman import PodmanService
from waltport.image.sources import open_rootfs_dir
from waltport.image.tarball import write_rootfs_tar

EPOCH = 1700000000


def _layer(tmp: Path, text: str = "hello\n") -> Layer:
    root = tmp / "root"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "greeting").write_text(text)
    write_rootfs_tar(open_rootfs_dir(root), tmp / "layer.tar", mtime=EPOCH)
    return layer_of(tmp / "layer.tar", "waltport test layer")


def test_config_is_canonical_and_carries_the_epoch(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    cfg = image_config([layer], arch="arm64", labels={"b": "2", "a": "1"}, created=EPOCH)
    parsed = json.loads(cfg)
    assert cfg == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    assert parsed["created"] == iso_time(EPOCH) == "2023-11-14T22:13:20Z"
    assert parsed["rootfs"] == {"type": "layers", "diff_ids": [layer.digest]}
    assert parsed["config"]["Labels"] == {"a": "1", "b": "2"}
    assert "variant" not in parsed
    arm = json.loads(image_config([layer], arch="arm", labels={}, created=EPOCH, variant="v5"))
    assert arm["variant"] == "v5"
    # Another time, another ID: the time is the only clock the ID sees.
    later = image_config([layer], arch="arm64", labels={"b": "2", "a": "1"}, created=EPOCH + 1)
    assert image_id(later) != image_id(cfg)


def test_manifest_and_index_point_at_their_blobs(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    cfg = image_config([layer], arch="amd64", labels={}, created=EPOCH)
    manifest = json.loads(image_manifest(cfg, [layer]))
    assert manifest["config"]["digest"] == "sha256:" + image_id(cfg)
    assert manifest["layers"] == [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": layer.digest, "size": layer.size}]
    index = json.loads(image_index(image_manifest(cfg, [layer]), "localhost/x:latest"))
    assert index["manifests"][0]["annotations"] == {
        "org.opencontainers.image.ref.name": "localhost/x:latest"}


def test_archive_same_inputs_same_bytes(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    cfg = image_config([layer], arch="arm64", labels={"walt.node.models": "m"}, created=EPOCH)
    a = write_oci_archive(tmp_path / "a.tar", [layer], cfg, "localhost/x:latest", mtime=EPOCH)
    b = write_oci_archive(tmp_path / "b.tar", [layer], cfg, "localhost/x:latest", mtime=EPOCH)
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        names = tar.getnames()
    assert names[:2] == ["oci-layout", "index.json"]
    assert f"blobs/sha256/{image_id(cfg)}" in names
    assert f"blobs/sha256/{layer.digest.removeprefix('sha256:')}" in names
    assert not list(tmp_path.glob(".*.tmp"))


def test_unreadable_layer_is_named(tmp_path: Path) -> None:
    with pytest.raises(OciError, match=r"layer missing\.tar"):
        layer_of(tmp_path / "missing.tar", "x")


@pytest.fixture(scope="module")
def podman_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("needs podman as root (scripts/bootstrap.sh installs it)")
    root = tmp_path_factory.mktemp("oci-state")
    with scoped_env(WALTPORT_STATE=str(root)):
        yield root


@pytest.mark.podman
@pytest.mark.root
def test_podman_load_keeps_the_computed_image_id(podman_state: Path, tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    labels = {"walt.node.models": "qemu-arm64", "walt.server.minversion": "4"}
    cfg = image_config([layer], arch="arm64", labels=labels, created=EPOCH)
    ref = "localhost/waltport/oci-test:latest"
    archive = write_oci_archive(tmp_path / "img.tar", [layer], cfg, ref, mtime=EPOCH)
    with PodmanService() as svc:
        assert ref in svc.load(archive)
        image = svc.get_image(ref)
        assert image.id == image_id(cfg)
        assert image.labels == labels
        assert image.attrs["Architecture"] == "arm64"
        assert image.attrs["Created"].startswith("2023-11-14T22:13:20")
