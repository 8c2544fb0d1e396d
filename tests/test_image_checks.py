"""Every check on a passing fixture and on failing fixtures that break one thing each."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import image_fixtures as fx
import pytest

from waltport.bootloader.scriptimage import build_script_image
from waltport.image.checks import MANDATORY, builtin_profile_for, run_checks
from waltport.image.context import CheckReport

ARM = builtin_profile_for("qemu-arm64")
PC = builtin_profile_for("pc-x86-64")
RPI = builtin_profile_for("rpi-b")


def report(root: Path, labels: dict[str, str] | None = None, model: str = "qemu-arm64"
           ) -> CheckReport:
    profile = ARM if model == "qemu-arm64" else PC
    return run_checks(fx.view_of(root, labels), model, profile)


def test_good_arm64_fixture_passes_every_mandatory_check(tmp_path: Path) -> None:
    rep = report(fx.good_arm64(tmp_path))
    mandatory = [r for r in rep.results if r.mandatory]
    assert len(mandatory) == len(MANDATORY)
    assert all(r.status == "pass" for r in mandatory), [r for r in mandatory if
                                                         r.status != "pass"]
    assert rep.ok and rep.arch == "arm64"
    doc = json.loads(json.dumps(rep.to_json()))
    assert doc["ok"] is True and doc["results"][0]["name"] == "labels.models"
    kconf = rep.get("kernel.config").evidence
    assert any("overlay.ko in the initrd" in e for e in kconf)


def test_good_x86_fixture_with_chained_ipxe_passes(tmp_path: Path) -> None:
    rep = report(fx.good_x86(tmp_path), fx.X86_LABELS, "pc-x86-64")
    assert rep.ok, rep.failed
    fetched = rep.get("boot.fetched-files")
    assert fetched.status == "pass"
    assert any("generic.ipxe:5 kernel" in e and "exists" in e for e in fetched.evidence)
    assert rep.get("kernel.arch").evidence[0].endswith("xloadflags 0x7f)")


def _drop_label(name: str) -> Callable[[Path], dict[str, str]]:
    def mutate(root: Path) -> dict[str, str]:
        return {k: v for k, v in fx.LABELS.items() if k != name}
    return mutate


def _labels(**kw: str) -> Callable[[Path], dict[str, str]]:
    def mutate(root: Path) -> dict[str, str]:
        return {**fx.LABELS, **{k.replace("_", "."): v for k, v in kw.items()}}
    return mutate


def _do(fn: Callable[[Path], object]) -> Callable[[Path], dict[str, str]]:
    def mutate(root: Path) -> dict[str, str]:
        fn(root)
        return fx.LABELS
    return mutate


def _corrupt_script(root: Path) -> None:
    p = root / "boot/qemu-arm64/start.uboot"
    data = bytearray(p.read_bytes())
    data[80] ^= 0xFF
    p.write_bytes(bytes(data))


def _script(arch: str, text: str = fx.UBOOT_SCRIPT) -> Callable[[Path], object]:
    return lambda root: fx.put(root, "boot/qemu-arm64/start.uboot", build_script_image(
        text.encode(), arch=arch, name="start.uboot", timestamp=0))


def _remove(rel: str) -> Callable[[Path], object]:
    return lambda root: (root / rel).unlink()


FAILURES = [
    ("labels.models", _drop_label("walt.node.models"), "no label walt.node.models"),
    ("labels.models", _labels(walt_node_models="rpi-b, qemu-arm64"), "without spaces"),
    ("labels.models", _labels(walt_node_models="rpi-b"), "does not list qemu-arm64"),
    ("labels.minversion", _drop_label("walt.server.minversion"), "no label"),
    ("labels.minversion", _labels(walt_server_minversion="four"), "not an integer"),
    ("boot.second-stage", _do(_corrupt_script), "data CRC mismatch"),
    ("boot.second-stage", _do(_script("arm")), "script image arch arm, board arch arm64"),
    ("boot.second-stage", _do(_remove("boot/qemu-arm64/start.uboot")), "has no start.uboot"),
    ("boot.second-stage", _do(_script("arm64", "tftp ${kernel_addr_r} kernel\n")),
     "no boot command"),
    ("boot.fetched-files", _do(_script("arm64", fx.UBOOT_SCRIPT.replace(
        "booti", "tftp ${fdt_addr_r} board.dtb || reset\nbooti"))),
     "required file missing: /boot/qemu-arm64/board.dtb does not exist"),
    ("boot.symlinks", _do(lambda r: fx.link(r, "boot/qemu-arm64/kernel", "../vmlinuz-gone")),
     "/boot/vmlinuz-gone does not exist"),
    ("boot.symlinks", _do(lambda r: fx.link(r, "boot/qemu-arm64/initrd",
                                            f"/boot/initrd.img-{fx.VERSION}")),
     "is absolute: the TFTP server would resolve it on its own host"),
    ("boot.symlinks", _do(lambda r: fx.link(r, "boot/qemu-arm64/dtb", "../../../../etc/x")),
     "escapes the image root"),
    ("kernel.config", _do(lambda r: fx.put(r, f"boot/config-{fx.VERSION}",
                                           fx.CONFIG_M.replace("CONFIG_NFS_FS=m", ""))),
     "CONFIG_NFS_FS=n"),
    ("kernel.config", _do(lambda r: fx.put(r, f"boot/initrd.img-{fx.VERSION}",
                                           fx.initrd(("nfs", "nfsv3")))),
     "=m but overlay.ko is not in the initrd"),
    ("kernel.config", _do(_remove(f"boot/config-{fx.VERSION}")), "no kernel configuration"),
    ("kernel.arch", _do(lambda r: fx.put(r, f"boot/vmlinuz-{fx.VERSION}", fx.x86_kernel())),
     "x86 bzImage, arch x86_64"),
    ("init", _do(_remove("sbin/init")), "/sbin/init: /sbin/init does not exist"),
    ("init", _do(lambda r: fx.put(r, "sbin/init", "not a program", 0o755)),
     "neither an ELF binary nor a #! script"),
    ("busybox.applets", _do(lambda r: fx.put(r, "bin/busybox", fx.busybox(
        applets=[a for a in fx.APPLETS if a != "timeout"]), 0o755)), "lacks applets: timeout"),
    ("busybox.linkage", _do(lambda r: fx.put(r, "bin/busybox", fx.busybox(
        interp="/lib/ld-linux-aarch64.so.1", needed=("libc.so.6",)), 0o755)),
     "dynamically linked and the image has no ldd"),
    ("commands", _do(_remove("bin/setsid")), "setsid: not found"),
    ("commands", _do(lambda r: fx.put(r, "bin/busybox", fx.busybox(
        applets=[a for a in fx.APPLETS if a != "tr"]), 0o755)), "busybox, which has no tr"),
    ("ssh.server", _do(_remove("usr/sbin/dropbear")), "no SSH server binary"),
    ("ssh.server", _do(_remove("lib/aarch64-linux-gnu/libz.so.1")), "needs libz.so.1"),
    ("ssh.server", _do(lambda r: fx.put(r, "etc/inittab",
                                        "::respawn:/usr/sbin/dropbear -F -R -w -p 22\n")),
     "root logins disallowed"),
    ("ssh.server", _do(lambda r: fx.put(r, "etc/inittab", "::sysinit:/etc/init.d/rcS\n")),
     "nothing starts dropbear"),
    ("binaries.arch", _do(lambda r: fx.put(r, "bin/busybox", fx.busybox("x86_64"), 0o755)),
     "/bin/busybox: ELF64 x86_64 static, the board is arm64"),
]


@pytest.mark.parametrize(("check", "mutate", "reason"), FAILURES,
                         ids=[f"{c}-{i}" for i, (c, _m, _r) in enumerate(FAILURES)])
def test_each_failure_is_named_with_its_reason(tmp_path: Path, check: str,
                                               mutate: Callable[[Path], dict[str, str]],
                                               reason: str) -> None:
    root = fx.good_arm64(tmp_path)
    labels = mutate(root)
    rep = report(root, labels)
    res = rep.get(check)
    assert res.status == "fail" and res.mandatory
    assert any(reason in e for e in res.evidence), res.evidence
    assert not rep.ok and check in [r.name for r in rep.failed]


# Checks that need a family profile (per-model CPUs, kernels, porter files):
# (check, labels, model, reason), over the good arm64 fixture and the rpi profile.
FAMILY_FAILURES = [
    ("boot.model-files", {**fx.LABELS, "walt.node.models": "rpi-5-b"}, "rpi-5-b",
     "the porter supplies rpi-5-b/Image"),
    ("userland.cpu", {**fx.LABELS, "walt.node.models": "rpi-b,rpi-4-b"}, "rpi-4-b",
     "rpi-b is armv6: build the image with userland armel"),
]


@pytest.mark.parametrize(("check", "labels", "model", "reason"), FAMILY_FAILURES,
                         ids=[c for c, *_ in FAMILY_FAILURES])
def test_family_failures_are_named(tmp_path: Path, check: str, labels: dict[str, str],
                                   model: str, reason: str) -> None:
    rep = run_checks(fx.view_of(fx.good_arm64(tmp_path), labels), model, RPI)
    res = rep.get(check)
    assert res.status == "fail" and res.mandatory
    assert any(reason in e for e in res.evidence), res.evidence


def test_zimage_booted_with_booti_fails_kernel_cpu(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path)
    fx.put(root, f"boot/vmlinuz-{fx.VERSION}", fx.arm_zimage())
    res = report(root).get("kernel.cpu")
    assert res.status == "fail"
    assert any("boots with booti; the arm zImage needs bootz" in e for e in res.evidence), \
        res.evidence


@pytest.mark.parametrize(("bits64", "fails"), [(True, True), (False, False)])
def test_32bit_pc_needs_a_32bit_bzimage(tmp_path: Path, bits64: bool, fails: bool) -> None:
    root = fx.good_x86(tmp_path)
    shutil.copytree(root / "boot/pc-x86-64", root / "boot/pc-x86-32", symlinks=True)
    fx.put(root, f"boot/vmlinuz-{fx.VERSION}", fx.x86_kernel(bits64))
    labels = {**fx.X86_LABELS, "walt.node.models": "pc-x86-32"}
    res = run_checks(fx.view_of(root, labels), "pc-x86-32", PC).get("kernel.cpu")
    assert (res.status == "fail") is fails, res.evidence
    if fails:
        assert any("the x86_64 kernel (x86 bzImage) does not run on x86 (pc-x86-32)" in e
                   for e in res.evidence), res.evidence


def test_gzip_kernel_is_checked_like_the_raw_one(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path)
    (root / f"boot/vmlinuz-{fx.VERSION}").unlink()
    fx.put(root, f"boot/vmlinuz-{fx.VERSION}.gz", gzip.compress(fx.arm64_kernel(), mtime=0))
    (root / "boot/qemu-arm64/kernel").unlink()
    fx.link(root, "boot/qemu-arm64/kernel", f"../vmlinuz-{fx.VERSION}.gz")
    rep = report(root)
    assert rep.ok, rep.failed
    assert rep.get("kernel.config").evidence[0].endswith(f"/boot/config-{fx.VERSION}")
    assert any("gzip+arm64 Image" in e for e in rep.get("kernel.cpu").evidence)


def test_every_mandatory_check_has_a_failing_fixture(tmp_path: Path) -> None:
    mandatory = {r.name for r in report(fx.good_arm64(tmp_path)).results if r.mandatory}
    # archive.members fails on archives only: tests/test_image_sources.py has its fixtures.
    assert {c for c, _m, _r in FAILURES} | {c for c, *_ in FAMILY_FAILURES} | \
        {"kernel.cpu", "archive.members"} == mandatory
    assert len(mandatory) == len(MANDATORY)


def test_ipxe_script_without_shebang_fails(tmp_path: Path) -> None:
    root = fx.good_x86(tmp_path)
    fx.put(root, "boot/pc-x86-64/start.ipxe", fx.IPXE_START.replace("#!ipxe\n", ""))
    rep = report(root, fx.X86_LABELS, "pc-x86-64")
    res = rep.get("boot.second-stage")
    assert res.status == "fail"
    assert "does not start with #!ipxe" in res.evidence[0]


def test_openssh_root_login_forbidden_fails(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path)
    (root / "usr/sbin/dropbear").rename(root / "usr/sbin/sshd")
    fx.put(root, "etc/inittab", "::respawn:/usr/sbin/sshd -D\n")
    fx.put(root, "etc/ssh/sshd_config", "PermitRootLogin yes\n")
    assert report(root).get("ssh.server").status == "pass"
    fx.put(root, "etc/ssh/sshd_config", "PermitRootLogin no\n")
    res = report(root).get("ssh.server")
    assert res.status == "fail" and "PermitRootLogin forbids" in res.evidence[0]


def test_optional_features_pass_when_present_warn_when_absent(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path)
    before = {r.name: r.status for r in report(root).results if not r.mandatory}
    assert set(before.values()) == {"warn"}
    fx.put(root, "usr/sbin/lldpd", fx.make_elf(), 0o755)
    fx.put(root, "usr/sbin/nbd-client", fx.make_elf(), 0o755)
    fx.put(root, "etc/cpuinfo", "processor: 0\n")
    fx.put(root, "bin/walt-image-shell-start", "#!/bin/sh\n", 0o755)
    fx.put(root, "bin/walt-image-shell-shutdown", "#!/bin/sh\n", 0o755)
    after = report(root)
    for name in ("optional.lldpd", "optional.nbd-swap", "optional.cpuinfo",
                 "optional.image-shell"):
        assert after.get(name).status == "pass", name
    assert after.get("optional.avahi").status == "warn"
    assert after.ok


def test_kernel_config_all_builtin_needs_no_initrd(tmp_path: Path) -> None:
    root = fx.good_arm64(tmp_path)
    fx.put(root, f"boot/config-{fx.VERSION}", fx.CONFIG_Y)
    no_initrd = fx.UBOOT_SCRIPT.replace("tftp ${ramdisk_addr_r} initrd || reset\n", "")
    _script("arm64", no_initrd)(root)
    assert report(root).get("kernel.config").status == "pass"
    fx.put(root, f"boot/config-{fx.VERSION}", fx.CONFIG_M)
    res = report(root).get("kernel.config")
    assert res.status == "fail" and any("no initrd: must be =y" in e for e in res.evidence)



def test_init_libraries_found_through_runpath(tmp_path: Path) -> None:
    # Debian's systemd: /sbin/init -> /lib/systemd/systemd, which finds its private
    # libraries through DT_RUNPATH ($ORIGIN/../<triplet>/systemd), not the usual dirs.
    root = fx.good_x86(tmp_path / "r")
    (root / "sbin/init").unlink()
    private = "libsystemd-shared-252.so"
    fx.put(root, "lib/systemd/systemd", fx.make_elf(
        "x86_64", interp="/lib64/ld-linux-x86-64.so.2", needed=("libc.so.6", private),
        runpath="$ORIGIN/../x86_64-linux-gnu/systemd"), 0o755)
    fx.link(root, "sbin/init", "/lib/systemd/systemd")
    fx.put(root, f"lib/x86_64-linux-gnu/systemd/{private}", fx.make_elf("x86_64"))
    assert report(root, fx.X86_LABELS, "pc-x86-64").get("init").status == "pass"
    (root / f"lib/x86_64-linux-gnu/systemd/{private}").unlink()
    res = report(root, fx.X86_LABELS, "pc-x86-64").get("init")
    assert res.status == "fail" and any(private in e for e in res.evidence)
