"""Per-model boot files in a real default rootfs (Debian kernels, dtbs, armel userland).

The rootfs is assembled as ``waltport image build`` does, without podman: the
checks read the directory with the labels the built image would carry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from waltport.cli import main
from waltport.host.apt import fetch_busybox
from waltport.image.bootfiles import BootFilesError, plan_boot_files
from waltport.image.build import image_labels
from waltport.image.checks import run_checks
from waltport.image.context import CheckReport
from waltport.image.rootfs import assemble_default_rootfs, served_models
from waltport.image.sources import open_rootfs_dir
from waltport.profile.load import load_profile, parse_profile
from waltport.util.paths import boards_dir

pytestmark = pytest.mark.slow        # Debian kernels of three flavours (cached after a first run)

RPI = load_profile(boards_dir() / "rpi.yaml")


@pytest.fixture(scope="module")
def rpi_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bootfiles") / "rootfs"
    notes = assemble_default_rootfs(RPI, root)
    assert any("rpi-5-b: left out of the image: the porter supplies rpi-5-b/Image" in n
               for n in notes), notes
    return root


def _report(root: Path, model: str, models: tuple[str, ...]) -> CheckReport:
    view = open_rootfs_dir(root)
    view.labels = image_labels(RPI, "arm", models)
    return run_checks(view, model, RPI)


def test_layout_links_shared_files_stored_once(rpi_root: Path) -> None:
    boot = rpi_root / "boot"
    kernels = sorted(p.name for p in boot.glob("vmlinuz-*"))
    assert sorted(k.rsplit("-", 1)[-1] for k in kernels) == ["arm64", "armmp", "rpi"]
    assert os.readlink(boot / "rpi-4-b/kernel") == os.readlink(boot / "rpi-400/kernel")
    assert os.readlink(boot / "rpi-4-b/dtb").endswith("broadcom/bcm2711-rpi-4-b.dtb")
    assert os.readlink(boot / "rpi-b/dtb").endswith("/bcm2835-rpi-b.dtb")
    assert not (boot / "rpi-5-b").exists()
    # Per model, the boot command follows the kernel's format.
    assert "bootz ${kernel_addr_r}" in (boot / "rpi-2-b/start.uboot.txt").read_text()
    assert "booti ${kernel_addr_r}" in (boot / "rpi-3-b/start.uboot.txt").read_text()


@pytest.mark.parametrize("model", [m for m in RPI.all_models if m != "rpi-5-b"])
def test_every_debian_model_passes_every_mandatory_check(rpi_root: Path, model: str) -> None:
    rep = _report(rpi_root, model, served_models(RPI))
    assert rep.ok, [(r.name, r.evidence[:3]) for r in rep.failed]
    assert any("Tag_CPU_arch v5TE" in e for e in rep.get("userland.cpu").evidence)
    cpu = rep.get("kernel.cpu").evidence
    assert any(f"{model} is {RPI.cpu_of(model).label}" in e for e in cpu)


def test_armmp_kernel_for_an_armv6_model_fails_kernel_cpu(tmp_path: Path,
                                                          rpi_root: Path) -> None:
    # An image built elsewhere that boots the ARMv7 multiplatform kernel on a Pi B.
    root = tmp_path / "rootfs"
    shutil.copytree(rpi_root, root, symlinks=True)
    armmp = os.readlink(root / "boot/rpi-2-b/kernel")
    (root / "boot/rpi-b/kernel").unlink()
    (root / "boot/rpi-b/kernel").symlink_to(armmp)
    res = _report(root, "rpi-b", served_models(RPI)).get("kernel.cpu")
    assert res.status == "fail"
    assert any("CONFIG_ARCH_MULTI_V6" in e and "does not run on armv6" in e
               for e in res.evidence), res.evidence


@pytest.mark.parametrize(("userland", "fails"), [("armel", False), ("armhf", True),
                                                 ("arm64", True)])
def test_userland_level_against_the_oldest_cpu(tmp_path: Path, rpi_root: Path,
                                               userland: str, fails: bool) -> None:
    # Real Debian busybox-static binaries in the Pi family's image (oldest CPU: ARMv6).
    root = tmp_path / "rootfs"
    shutil.copytree(rpi_root, root, symlinks=True)
    shutil.copyfile(fetch_busybox(userland), root / "bin/busybox")
    res = _report(root, "rpi-4-b", served_models(RPI)).get("userland.cpu")
    assert (res.status == "fail") is fails, res.evidence
    if fails:
        assert any(e.startswith("/bin/busybox") and "rpi-b is armv6: build the image with "
                   "userland armel" in e for e in res.evidence), res.evidence


def test_rpi_5_b_check_names_the_porter_files(rpi_root: Path) -> None:
    rep = _report(rpi_root, "rpi-5-b", served_models(RPI))
    res = rep.get("boot.model-files")
    assert res.status == "fail"
    assert any("the porter supplies rpi-5-b/bcm2712-rpi-5-b.dtb" in e and
               "boot_files[4].dtb" in e for e in res.evidence), res.evidence


def test_porter_files_are_placed_when_given(tmp_path: Path, rpi_root: Path) -> None:
    # Stand-ins (Debian's arm64 kernel and the Pi 4 tree) exercise the placement;
    # they are not a claim that the Pi 5 boots with them.
    porter = tmp_path / "porter" / "rpi-5-b"
    porter.mkdir(parents=True)
    shutil.copyfile(rpi_root / "boot/rpi-4-b/kernel", porter / "Image")
    shutil.copyfile(rpi_root / "boot/rpi-4-b/dtb", porter / "bcm2712-rpi-5-b.dtb")
    assert served_models(RPI, porter_dir=tmp_path / "porter")[-1] == "rpi-5-b"
    only = RPI.model_copy(update={"models": ["rpi-5-b"], "detect": None, "samples": {},
                                  "boot_files": [RPI.boot_files[4]]})
    root = tmp_path / "rootfs"
    notes = assemble_default_rootfs(only, root, porter_dir=tmp_path / "porter")
    assert os.readlink(root / "boot/rpi-5-b/dtb") == "../porter/rpi-5-b/bcm2712-rpi-5-b.dtb"
    assert any("its initrd carries no modules" in n for n in notes)
    assert os.readlink(root / "boot/rpi-5-b/initrd") == "../initrd.img-porter"
    view = open_rootfs_dir(root)
    view.labels = image_labels(only, "arm", ("rpi-5-b",))
    assert run_checks(view, "rpi-5-b", only).get("boot.model-files").status == "pass"


def test_modular_nfs_without_initrd_is_refused_naming_the_fields(tmp_path: Path) -> None:
    text = (boards_dir() / "rpi.yaml").read_text().replace(
        "second_stage: {kernel: kernel, dtb: dtb, initrd: initrd}",
        "second_stage: {kernel: kernel, dtb: dtb, initrd: null}")
    profile = parse_profile(text, "rpi-no-initrd.yaml")
    with pytest.raises(BootFilesError) as err:
        assemble_default_rootfs(profile, tmp_path / "rootfs")
    msg = str(err.value)
    assert "second_stage.initrd is null" in msg and "CONFIG_NFS_FS=m" in msg
    assert "boot_files[].kernel" in msg
    assert not (tmp_path / "rootfs").exists()


def test_cli_build_without_the_porter_files_names_them(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    # Refused before podman is reached: nothing of nanopi-r5c can boot without its dtb.
    assert main(["image", "build", str(boards_dir() / "nanopi-r5c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nanopi-r5c: rk3568-nanopi-r5c.dtb" in err and "--boot-files DIR" in err
    assert "Traceback" not in err
    assert main(["image", "build", str(boards_dir() / "rpi.yaml"), "--boot-files",
                 str(tmp_path / "absent")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_plan_is_per_model() -> None:
    plan = {mb.model: mb for mb in plan_boot_files(RPI, RPI.all_models)}
    assert plan["rpi-3-b-plus"].modules == ("dwc2", "smsc95xx", "lan78xx")
    assert plan["rpi-2-b"].where == "boot_files[1]"
    assert [f.porter for f in plan["rpi-5-b"].porter_files()] == [
        "rpi-5-b/Image", "rpi-5-b/bcm2712-rpi-5-b.dtb"]
