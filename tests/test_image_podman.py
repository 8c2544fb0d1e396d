"""The image stage against real podman (waltport's private service and storage).

Builds the built-in virtual boards' default images (Debian kernel, busybox-static
and dropbear of the arch, fetched into the shared cache), imports them as
``docker.io/waltplatform/<model>-default:latest``, checks them from podman
storage and from the archives, and exports the rootfs the lab boots from.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import image_fixtures as fx
import pytest
from conftest import scoped_env

from waltport.cli import main
from waltport.image.build import BuiltImage, build_image
from waltport.image.checks import check_image
from waltport.image.importer import ImportResult, import_image
from waltport.image.podman import PodmanError, PodmanService, mounts_under
from waltport.image.tarball import export_rootfs
from waltport.lab.boot import boot_board
from waltport.lab.imageroot import check_image_root
from waltport.profile.load import load_profile
from waltport.util.paths import boards_dir

pytestmark = [pytest.mark.podman, pytest.mark.slow, pytest.mark.root]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state dir (own podman storage); the download cache is shared (outside it)."""
    if shutil.which("podman") is None:
        pytest.skip("podman not installed (scripts/bootstrap.sh installs it)")
    root = tmp_path_factory.mktemp("image-state")
    try:
        with scoped_env(WALTPORT_STATE=str(root)):
            yield root
    finally:
        # Nothing left behind: no service, no overlay mount in the storage.
        assert not (root / "podman" / "podman.sock").exists()
        assert mounts_under(root, Path("/proc/self/mountinfo").read_text()) == []


def _inspect(name: str) -> dict[str, object] | None:
    """``podman image inspect`` of ``name`` through the private service, None if absent."""
    with PodmanService() as svc:
        try:
            return dict(svc.get_image(name).attrs)
        except PodmanError:
            return None


@dataclass(frozen=True)
class Imported:
    """A virtual board's default image, built, imported and exported once per module."""

    built: BuiltImage
    res: ImportResult
    rootfs: Path


@pytest.fixture(scope="module")
def images(state: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Callable[[str, str], Imported]:
    """Build + import + export of (board, model) on first use; the boot tests reuse them.

    Building and importing is what the first test checks; the lab boots then
    start from the same image instead of building it a second time.
    """
    done: dict[tuple[str, str], Imported] = {}

    def get(board: str, model: str) -> Imported:
        if (board, model) not in done:
            built = build_image(load_profile(boards_dir() / f"{board}.yaml"), model=model)
            out = tmp_path_factory.mktemp(f"import-{model}")
            res = import_image(built.tag, model, out_dir=out / "out")
            done[(board, model)] = Imported(built, res,
                                            export_rootfs(res.tag, out / "rootfs").root)
        return done[(board, model)]

    return get


@pytest.mark.parametrize(("board", "model", "arch"), [("qemu-arm64", "qemu-arm64", "arm64"),
                                                      ("qemu-arm", "qemu-arm", "arm"),
                                                      ("qemu-x86-64", "pc-x86-64", "amd64"),
                                                      ("qemu-x86-64", "pc-x86-32", "386")])
def test_build_import_check_and_close_the_loop(images: Callable[[str, str], Imported],
                                               board: str, model: str, arch: str) -> None:
    # pc-x86-32 (model_arch x86): an i386 image of its own, serving only that model.
    image = images(board, model)
    built, res = image.built, image.res
    assert built.labels["walt.node.models"] == model
    name = f"docker.io/waltplatform/{model}-default:latest"
    assert res.tag == name and res.arch == arch
    assert res.labels["walt.node.models"] == model and res.labels["walt.server.minversion"]
    assert any(c.startswith("podman load -i ") for c in res.server_commands)
    assert "walt image show --refresh" in res.server_commands
    attrs = _inspect(name)
    assert attrs is not None and attrs["Architecture"] == arch and attrs["Id"] == res.image_id
    for source in (name, res.docker_archive, res.oci_archive):
        report = check_image(source, model)
        assert report.ok, (source, report.failed)
        assert all(r.status == "pass" for r in report.results if r.mandatory), source
        assert report.arch == {"386": "x86", "amd64": "x86_64"}.get(arch, arch)
    # Close the loop: the lab's image-root check accepts the rootfs exported from storage.
    boot = check_image_root(image.rootfs, load_profile(boards_dir() / f"{board}.yaml"), model)
    assert (boot / "kernel").resolve().name.startswith("vmlinuz-")


def test_import_archives_are_the_same_bytes_twice(images: Callable[[str, str], Imported],
                                                  tmp_path: Path) -> None:
    first = images("qemu-arm64", "qemu-arm64").res
    again = import_image(first.tag, "qemu-arm64", out_dir=tmp_path / "again")
    assert again.image_id == first.image_id
    assert again.archive_sha256 == first.archive_sha256, "podman's archive dates leaked in"
    for fmt in (again.docker_archive, again.oci_archive):
        assert check_image(fmt, "qemu-arm64").ok, fmt


def test_rootfs_import_then_base_build(state: Path, tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path / "rootfs")
    shutil.rmtree(root / "boot/qemu-arm64")            # the profile's build adds it back
    imported = build_image(load_profile(boards_dir() / "qemu-arm64.yaml"), rootfs=root,
                           tag="localhost/test/rootfs:1")
    assert imported.method == "import" and imported.arch == "arm64"
    attrs = _inspect("localhost/test/rootfs:1")
    assert attrs is not None and attrs["Architecture"] == "arm64"
    again = build_image(load_profile(boards_dir() / "qemu-arm64.yaml"), rootfs=root,
                        tag="localhost/test/rootfs:2")
    assert again.image_id == imported.image_id        # same rootfs, same image ID
    report = check_image("localhost/test/rootfs:1", "qemu-arm64")
    assert report.ok, report.failed
    # FROM that image: the Containerfile adds /boot/<model>/ again, links included.
    shutil.rmtree(root / "boot")
    based = build_image(load_profile(boards_dir() / "qemu-arm64.yaml"),
                        from_image="localhost/test/rootfs:1", tag="localhost/test/based:1")
    assert based.method == "containerfile" and "FROM localhost/test/rootfs:1" in str(
        based.containerfile)
    assert check_image("localhost/test/based:1", "qemu-arm64").ok


def test_import_with_wrong_labels_leaves_no_tag(state: Path, tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path / "rootfs")
    build_image(load_profile(boards_dir() / "qemu-arm64.yaml"), rootfs=root,
                tag="localhost/test/wrong:1")
    with pytest.raises(PodmanError, match="does not list rpi-b"):
        import_image("localhost/test/wrong:1", "rpi-b", out_dir=tmp_path / "out")
    assert _inspect("docker.io/waltplatform/rpi-b-default:latest") is None
    assert not (tmp_path / "out" / "rpi-b-default.docker.tar").exists()


def test_cli_contract_and_bad_inputs(state: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["image", "check", "localhost/test/none:1", "--model", "qemu-arm64"]) == 3
    err = capsys.readouterr().err
    assert "no image 'localhost/test/none:1'" in err and "Traceback" not in err
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"garbage")
    assert main(["image", "import", str(bad), "--model", "qemu-arm64",
                 "--out", str(tmp_path / "archives")]) == 3
    assert "cannot load" in capsys.readouterr().err
    monkeypatch.setenv("CONTAINER_HOST", f"unix://{tmp_path}/no.sock")
    assert main(["image", "check", "some/image", "--model", "qemu-arm64"]) == 3
    assert "not reachable" in capsys.readouterr().err


UNAME = {"qemu-arm64": "aarch64", "pc-x86-64": "x86_64", "pc-x86-32": "i686"}


@pytest.mark.qemu
@pytest.mark.parametrize(("board", "model", "first"), [("qemu-arm64", "qemu-arm64", "sdcard"),
                                                       ("qemu-x86-64", "pc-x86-64", "pxe"),
                                                       ("qemu-x86-64", "pc-x86-64", "usb"),
                                                       ("qemu-x86-64", "pc-x86-32", "pxe")])
def test_lab_boots_the_image_from_podman_storage(images: Callable[[str, str], Imported],
                                                 tmp_path: Path, board: str, model: str,
                                                 first: str) -> None:
    """Close the loop: the rootfs exported from podman storage is the lab's TFTP root.

    ``usb``: the PC starts from the USB key ``waltport media`` writes (SeaBIOS,
    syslinux, ipxe.lkrn + boot.ipxe; its NIC has no boot ROM).
    """
    root = images(board, model).rootfs
    # The pid keeps the lab apart from concurrent runs (another worker, another checkout):
    # a lab of the same name would be torn down, processes and all, under this boot.
    report = boot_board(load_profile(boards_dir() / f"{board}.yaml"),
                        lab_name=f"wpi-{first}-{os.getpid()}", image_root=root,
                        out_dir=tmp_path / "lab", timeout=120, model=model,
                        first_stage_mode="sdcard" if first == "pxe" else first)
    assert report.first_stage == first
    (run,) = report.runs
    assert run.ok, (run.failed_stage, run.error, run.console_tail)
    userspace = next(s for s in run.stages if s.name == "userspace")
    assert f"model={model}" in str(userspace.evidence["marker"])
    kernel = next(s for s in run.stages if s.name == "kernel_fetched")
    # The kernel served is the one in the image (a symlink to /boot/vmlinuz-*).
    assert kernel.evidence["bytes"] == (root / "boot" / model / "kernel").stat().st_size
    # The image's own userspace: NFS root, busybox init, dropbear, an SSH login.
    stages = {s.name: s for s in run.stages}
    assert "WALTPORT-IMAGE-INIT" in str(stages["image_userspace"].evidence["marker"])
    assert "/var/lib/walt/nodes/" in str(stages["image_userspace"].evidence["nfsroot"])
    assert stages["ssh_login"].evidence["output"] == UNAME[model]
    if first == "usb":
        console = Path(run.console_log).read_text()
        assert "Loading /ipxe.lkrn" in console and "Loading /boot.ipxe" in console
        assert stages["walt_dhcp"].evidence["uci"] == f"walt.node.{model}"
