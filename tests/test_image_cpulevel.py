"""CPU levels from real Debian binaries (armel, armhf, arm64), never executed."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.host.apt import fetch_busybox
from waltport.image.cpulevel import arm_cpu_need, elf_cpu_need
from waltport.profile.bootfiles import Cpu

pytestmark = pytest.mark.slow       # the first run fetches three busybox-static packages


@pytest.fixture(scope="module")
def busyboxes() -> dict[str, bytes]:
    return {arch: fetch_busybox(arch).read_bytes() for arch in ("armel", "armhf", "arm64")}


def test_armel_busybox_runs_on_armv6(busyboxes: dict[str, bytes]) -> None:
    need = elf_cpu_need(busyboxes["armel"])
    assert need.cpu is Cpu.ARMV6
    assert "Tag_CPU_arch v5TE" in need.evidence          # Debian armel's baseline


def test_armhf_busybox_needs_armv7_with_vfpv3(busyboxes: dict[str, bytes]) -> None:
    need = elf_cpu_need(busyboxes["armhf"])
    assert need.cpu is Cpu.ARMV7
    assert "Tag_CPU_arch v7" in need.evidence and "VFPv3" in need.evidence


def test_arm64_busybox_needs_armv8(busyboxes: dict[str, bytes]) -> None:
    need = elf_cpu_need(busyboxes["arm64"])
    assert need.cpu is Cpu.ARMV8 and "AArch64" in need.evidence


def test_attribute_levels() -> None:
    assert arm_cpu_need(4, None) is Cpu.ARMV6              # v5TE, soft float
    assert arm_cpu_need(7, 2) is Cpu.ARMV6                 # v6KZ + VFPv2: an ARM1176
    assert arm_cpu_need(6, 3) is Cpu.ARMV7                 # VFPv3: not on an ARMv6
    assert arm_cpu_need(8, None) is Cpu.ARMV7              # v6T2 (Thumb-2)
    assert arm_cpu_need(14, 7) is Cpu.ARMV8


def test_not_an_elf_says_so(tmp_path: Path) -> None:
    assert elf_cpu_need(b"#!/bin/sh\n").cpu is None
    assert elf_cpu_need(b"\x7fELF" + b"\0" * 60).cpu is None
