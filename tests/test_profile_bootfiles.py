"""Per-model CPUs, kernels and dtbs: profiles that cannot work are refused before a build."""

from __future__ import annotations

import pytest

from waltport.errors import ProfileError
from waltport.profile.load import load_profile, parse_profile
from waltport.profile.model import Profile
from waltport.util.paths import boards_dir

FAMILY = """\
name: pis
arch: arm
userland: {userland}
bootloader: uboot
dhcp_identifier: vci
models: [rpi-b, rpi-4-b]
detect: {{method: uboot, source: fdtfile, substitutions: [{{regex: '[.]dtb$'}}]}}
uboot: {{boot_command: bootz}}
second_stage: {{kernel: kernel, dtb: dtb, initrd: initrd}}
boot_files:
  - models: [rpi-b]
    cpu: armv6
    kernel: {old_kernel}
    dtb: bcm2835-rpi-b.dtb
  - models: [rpi-4-b]
    cpu: armv8
    kernel: arm64
    dtb: broadcom/bcm2711-rpi-4-b.dtb
"""


def family(userland: str = "armel", old_kernel: str = "rpi") -> Profile:
    return parse_profile(FAMILY.format(userland=userland, old_kernel=old_kernel), "pis.yaml")


def problems(err: pytest.ExceptionInfo[ProfileError]) -> dict[str, str]:
    return {p.path: p.reason for p in err.value.problems}


def test_armel_family_per_model_cpu_kernel_and_boot_command() -> None:
    p = family()
    assert [p.cpu_of(m).label for m in p.all_models] == ["armv6", "armv8"]
    assert [p.kernel_arch(m) for m in p.all_models] == ["arm", "arm64"]
    assert [p.boot_command_of(m) for m in p.all_models] == ["bootz", "booti"]
    assert p.userland_of(p.arch) == "armel"


def test_armhf_userland_with_an_armv6_model_is_refused_with_the_fix() -> None:
    with pytest.raises(ProfileError) as err:
        family(userland="armhf")
    why = problems(err)["boot_files[0].cpu"]
    assert "an armv6 CPU cannot run the armhf userland" in why
    assert "use 'userland: armel'" in why


def test_kernel_the_cpu_cannot_run_is_refused() -> None:
    with pytest.raises(ProfileError) as err:
        family(old_kernel="armmp")
    why = problems(err)["boot_files[0].kernel"]
    assert "Debian's armmp kernel does not run on armv6" in why and "use rpi" in why


def test_userland_of_another_arch_and_unknown_names() -> None:
    text = FAMILY.format(userland="arm64", old_kernel="rpi")
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "pis.yaml")
    assert "arm64 binaries are not arm" in problems(err)["userland"]
    text = FAMILY.format(userland="armel", old_kernel="rpi").replace("armv6", "armv5")
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "pis.yaml")
    assert "not a CPU level" in problems(err)["boot_files[0].cpu"]
    with pytest.raises(ProfileError) as err:
        family(old_kernel="mips")
    assert "not a Debian kernel flavour" in problems(err)["boot_files[0].kernel"]


def test_dtb_without_a_second_stage_dtb_and_model_outside_the_family() -> None:
    text = FAMILY.format(userland="armel", old_kernel="rpi").replace(
        "dtb: dtb, ", "dtb: null, ").replace("models: [rpi-4-b]", "models: [rpi-4-b, rpi-9]")
    with pytest.raises(ProfileError) as err:
        parse_profile(text, "pis.yaml")
    found = problems(err)
    assert "second_stage.dtb is null" in found["boot_files[0].dtb"]
    assert "'rpi-9' is not in 'models'" in found["boot_files[1].models"]


def test_builtin_rpi_names_what_debian_does_not_ship() -> None:
    p = load_profile(boards_dir() / "rpi.yaml")
    assert p.userland == "armel"
    by_model = {m: (p.cpu_of(m).label, p.kernel_of(m)) for m in p.all_models}
    assert by_model["rpi-b"] == ("armv6", "rpi") and by_model["rpi-2-b"] == ("armv7", "armmp")
    assert by_model["rpi-4-b"] == ("armv8", "arm64")
    g = p.boot_group("rpi-5-b")
    assert g is not None and not isinstance(g.kernel, str) and "BCM2712" in g.kernel.why
