"""The oldest CPU a binary or a kernel needs, read from its bytes (never executed).

An ARM ELF says which architecture version it was built for in its EABI
build attributes (``.ARM.attributes``: ``Tag_CPU_arch``, ``Tag_FP_arch``),
read with pyelftools.  Debian's armel is built for ARMv5TE (an ARMv6 runs
it), armhf for ARMv7 with VFPv3 (an ARMv6 does not: its VFP is v2).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import ARMAttributesSection

from waltport.profile.bootfiles import Cpu

# Tag_CPU_arch values (ARM IHI 0045): 0 pre-v4 ... 9 v6K, 10 v7, 14 v8, later v8.x/v9.
CPU_ARCH_NAMES = {0: "pre-v4", 1: "v4", 2: "v4T", 3: "v5T", 4: "v5TE", 5: "v5TEJ", 6: "v6",
                  7: "v6KZ", 8: "v6T2", 9: "v6K", 10: "v7", 11: "v6-M", 12: "v6S-M",
                  13: "v7E-M", 14: "v8-A", 15: "v8-R", 16: "v8-M.base", 17: "v8-M.main"}
# Tag_FP_arch: 1 VFPv1, 2 VFPv2, 3 VFPv3, 4 VFPv3-D16, 5 VFPv4, 6 VFPv4-D16, 7 FP-ARMv8...
FP_NAMES = {0: "none", 1: "VFPv1", 2: "VFPv2", 3: "VFPv3", 4: "VFPv3-D16", 5: "VFPv4",
            6: "VFPv4-D16", 7: "FP-ARMv8", 8: "FP-ARMv8-D16"}
EM_ARM, EM_AARCH64, EM_386, EM_X86_64 = 40, 183, 3, 62


@dataclass(frozen=True)
class CpuNeed:
    """The oldest CPU level that runs a binary, and what was read to say so."""

    cpu: Cpu | None             # None: nothing known (not an ELF, unknown machine)
    evidence: str


def _arm_attributes(elf: ELFFile) -> dict[str, int]:
    sec = elf.get_section_by_name(".ARM.attributes")
    if not isinstance(sec, ARMAttributesSection):
        return {}
    out: dict[str, int] = {}
    for sub in sec.iter_subsections():
        for subsub in sub.iter_subsubsections():
            for attr in subsub.iter_attributes():
                if isinstance(attr.value, int):
                    out[str(attr.tag)] = attr.value
    return out


def arm_cpu_need(cpu_arch: int | None, fp_arch: int | None) -> Cpu:
    """The oldest of waltport's ARM CPU levels that runs code of these build attributes."""
    if cpu_arch is not None and cpu_arch >= 14:
        return Cpu.ARMV8
    # v6T2 (Thumb-2) and VFPv3+ are ARMv7-class features an ARMv6 (ARM1176) lacks.
    if (cpu_arch is not None and cpu_arch >= 8) or (fp_arch is not None and fp_arch >= 3):
        return Cpu.ARMV7
    return Cpu.ARMV6


def elf_cpu_need(data: bytes) -> CpuNeed:
    """What CPU the ELF in ``data`` needs (whole file: attributes sit near the end)."""
    try:
        elf = ELFFile(io.BytesIO(data))
        machine = elf.header["e_machine"]
        if machine in ("EM_AARCH64", EM_AARCH64):
            return CpuNeed(Cpu.ARMV8, "AArch64 ELF (an ARMv8 CPU in 64-bit state)")
        if machine in ("EM_X86_64", EM_X86_64):
            return CpuNeed(Cpu.X86_64, "x86-64 ELF")
        if machine in ("EM_386", EM_386):
            return CpuNeed(Cpu.X86, "i386 ELF")
        if machine not in ("EM_ARM", EM_ARM):
            return CpuNeed(None, f"ELF machine {machine}")
        attrs = _arm_attributes(elf)
    except (ELFError, ValueError, KeyError, IndexError) as err:
        return CpuNeed(None, f"unreadable ELF: {err}")
    cpu_arch = attrs.get("TAG_CPU_ARCH")
    fp_arch = attrs.get("TAG_FP_ARCH")
    if cpu_arch is None:
        return CpuNeed(None, "32-bit ARM ELF without EABI build attributes (no Tag_CPU_arch)")
    need = arm_cpu_need(cpu_arch, fp_arch)
    fp = f", Tag_FP_arch {FP_NAMES.get(fp_arch, fp_arch)}" if fp_arch is not None else ""
    return CpuNeed(need, f"Tag_CPU_arch {CPU_ARCH_NAMES.get(cpu_arch, cpu_arch)}{fp}: "
                         f"runs on {need.label} and newer")
