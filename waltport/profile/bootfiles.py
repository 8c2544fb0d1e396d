"""Per-model boot files and CPUs: which kernel, which dtb, what CPU (pure).

A family's models may differ in CPU (an ARMv6 Raspberry Pi B next to an
ARMv8 Pi 4): one default image serves them all, so its userland must run on
the oldest CPU while each model gets a kernel its own CPU runs.  The tables
below say what runs where; :func:`boot_files_problems` refuses a profile that
cannot work, with the reason and what to change, before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Cpu(IntEnum):
    """CPU levels, oldest first: a level runs what the levels below it run (same family)."""

    ARMV6 = 6
    ARMV7 = 7
    ARMV8 = 8
    X86 = 32
    X86_64 = 64

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def family(self) -> str:
        return "arm" if self.value < 32 else "x86"


CPU_NAMES = {c.label: c for c in Cpu}
# Profile arch -> the CPU a model has when the profile says nothing more.
DEFAULT_CPU = {"arm": Cpu.ARMV7, "arm64": Cpu.ARMV8, "x86": Cpu.X86, "x86_64": Cpu.X86_64}
# Debian userland arch -> (profile arch, oldest CPU that runs it).  armel's
# baseline is ARMv5TE (so an ARMv6 runs it); armhf needs ARMv7 + VFPv3.
USERLANDS = {"armel": ("arm", Cpu.ARMV6), "armhf": ("arm", Cpu.ARMV7),
             "arm64": ("arm64", Cpu.ARMV8), "i386": ("x86", Cpu.X86),
             "amd64": ("x86_64", Cpu.X86_64)}
DEFAULT_USERLAND = {"arm": "armhf", "arm64": "arm64", "x86": "i386", "x86_64": "amd64"}
# Debian kernel flavour -> (kernel arch, CPUs that run it).  "rpi" is built for
# the BCM2835 (ARMv6) only; "armmp" is ARMv7 multiplatform, which an ARMv8 CPU
# runs in AArch32 state (with a 32-bit U-Boot).
FLAVOURS: dict[str, tuple[str, frozenset[Cpu]]] = {
    "rpi": ("arm", frozenset({Cpu.ARMV6})),
    "armmp": ("arm", frozenset({Cpu.ARMV7, Cpu.ARMV8})),
    "armmp-lpae": ("arm", frozenset({Cpu.ARMV7, Cpu.ARMV8})),
    "arm64": ("arm64", frozenset({Cpu.ARMV8})),
    "686": ("x86", frozenset({Cpu.X86, Cpu.X86_64})),
    "686-pae": ("x86", frozenset({Cpu.X86, Cpu.X86_64})),
    "amd64": ("x86_64", frozenset({Cpu.X86_64})),
}
DEFAULT_FLAVOUR = {"arm": "armmp", "arm64": "arm64", "x86": "686", "x86_64": "amd64"}
# Kernel arch -> the U-Boot command that boots its image format.
BOOT_COMMAND = {"arm64": "booti", "arm": "bootz"}


def _check_cpu(value: str) -> str:
    if value not in CPU_NAMES:
        raise ValueError(f"{value!r} is not a CPU level: use one of {sorted(CPU_NAMES)}")
    return value


def member_problem(value: str) -> str | None:
    """Why ``value`` is not a safe relative path inside a package or directory, or None."""
    if not value or value.startswith("/") or ".." in value.split("/") or \
            any(c.isspace() or c in "\"';$" for c in value):
        return f"{value!r} must be a relative path without '..', spaces, quotes or '$'"
    return None


def _check_member(value: str) -> str:
    if problem := member_problem(value):
        raise ValueError(problem)
    return value


def _check_module(value: str) -> str:
    if not value or not all(c.isalnum() or c in "_-" for c in value):
        raise ValueError(f"{value!r} is not a kernel module name")
    return value


CpuName = Annotated[str, AfterValidator(_check_cpu)]
Member = Annotated[str, AfterValidator(_check_member)]


class PorterFile(BaseModel):
    """A file Debian does not ship: the porter supplies it (``image build --boot-files``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    porter: Member
    why: str = ""


# A dtb: a path inside the Debian kernel package's dtb directory
# (/usr/lib/linux-image-<version>/, e.g. broadcom/bcm2711-rpi-4-b.dtb), or a porter file.
# A kernel: a Debian flavour, or a porter file.  The strings are checked by
# group_problems (one message per field, not one per branch of the union).
DtbSource = PorterFile | str
KernelSource = PorterFile | str


class BootGroup(BaseModel):
    """Models that share a CPU and a kernel; each has its dtb (or the group one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] = Field(min_length=1)
    cpu: CpuName
    kernel: KernelSource
    kernel_arch: str | None = Field(
        default=None, description="arch of a porter-supplied kernel (arm | arm64 | x86 | "
                                  "x86_64); a Debian flavour says it itself")
    # {porter: ...} is a porter file, any other mapping is per model: tried in order.
    dtb: DtbSource | dict[str, DtbSource] | None = Field(default=None,
                                                         union_mode="left_to_right")
    files: dict[Member, DtbSource] = Field(
        default_factory=dict,
        description="more files in /boot/<model>/ (e.g. dtbs a run-time variable names)")
    modules: list[Annotated[str, AfterValidator(_check_module)]] = Field(
        default_factory=list,
        description="kernel modules the initrd loads first: the board's network driver "
                    "(default: the virtual boards' virtio-net)")
    note: str = ""

    def dtb_of(self, model: str) -> DtbSource | None:
        if isinstance(self.dtb, dict):
            return self.dtb.get(model)
        return self.dtb


def cpu_runs_userland(cpu: Cpu, userland: str) -> bool:
    _arch, oldest = USERLANDS[userland]
    return oldest.family == cpu.family and cpu >= oldest


def group_problems(i: int, g: BootGroup, *, known: set[str], userland: str,
                   arch: str) -> list[tuple[str, str]]:
    """What cannot work in one boot-files group, as (field path, reason + what to change)."""
    where = f"boot_files[{i}]"
    out: list[tuple[str, str]] = []
    cpu = CPU_NAMES[g.cpu]
    for m in g.models:
        if m not in known:
            out.append((f"{where}.models", f"{m!r} is not in 'models'"))
    if isinstance(g.dtb, dict):
        for m, src in g.dtb.items():
            if m not in g.models:
                out.append((f"{where}.dtb.{m}", "not one of this group's models"))
            if isinstance(src, str) and (problem := member_problem(src)):
                out.append((f"{where}.dtb.{m}", problem))
    elif isinstance(g.dtb, str) and (problem := member_problem(g.dtb)):
        out.append((f"{where}.dtb", problem))
    for name, src in g.files.items():
        if isinstance(src, str) and (problem := member_problem(src)):
            out.append((f"{where}.files.{name}", problem))
    if DEFAULT_CPU[arch].family != cpu.family:
        out.append((f"{where}.cpu", f"{g.cpu} cannot run the {arch} userland of this profile"))
    elif not cpu_runs_userland(cpu, userland):
        better = [u for u, (a, _c) in USERLANDS.items()
                  if a == arch and cpu_runs_userland(cpu, u)]
        fix = f"use 'userland: {better[0]}'" if better else "give these models their own " \
            "image (model_arch)"
        out.append((f"{where}.cpu", f"an {g.cpu} CPU cannot run the {userland} userland "
                    f"(it needs {USERLANDS[userland][1].label} or newer; models "
                    f"{', '.join(g.models)}): {fix}"))
    if isinstance(g.kernel, str) and g.kernel not in FLAVOURS:
        out.append((f"{where}.kernel", f"{g.kernel!r} is not a Debian kernel flavour waltport "
                    f"knows: use one of {sorted(FLAVOURS)}, or {{porter: FILE}}"))
    elif isinstance(g.kernel, str):
        _karch, cpus = FLAVOURS[g.kernel]
        if cpu not in cpus:
            fits = sorted(f for f, (_a, c) in FLAVOURS.items() if cpu in c)
            out.append((f"{where}.kernel", f"Debian's {g.kernel} kernel does not run on "
                        f"{g.cpu} (it runs on {', '.join(sorted(c.label for c in cpus))}): "
                        f"use {' or '.join(fits) or 'a porter-supplied kernel'}"))
        if g.kernel_arch is not None:
            out.append((f"{where}.kernel_arch", "only for a porter-supplied kernel"))
    elif g.kernel_arch not in ("arm", "arm64", "x86", "x86_64"):
        out.append((f"{where}.kernel_arch", "a porter-supplied kernel needs its arch "
                    "(arm | arm64 | x86 | x86_64)"))
    return out


def kernel_arch_of(g: BootGroup) -> str:
    """The arch of the group's kernel image (arm64 Image, arm zImage, x86 bzImage)."""
    if isinstance(g.kernel, str):
        return FLAVOURS[g.kernel][0]
    return g.kernel_arch or ""


class _SecondStageView(Protocol):
    @property
    def dtb(self) -> str | None: ...


class ProfileView(Protocol):
    """What :func:`boot_files_problems` reads of a profile (the profile model, which
    imports this module, is one: typed without importing it back)."""

    @property
    def userland(self) -> str | None: ...
    @property
    def arch(self) -> object: ...
    @property
    def bootloader(self) -> object: ...
    @property
    def boot_files(self) -> Sequence[BootGroup]: ...
    @property
    def all_models(self) -> tuple[str, ...]: ...
    @property
    def second_stage(self) -> _SecondStageView: ...

    def userland_of(self, arch: Any) -> str: ...

    def arch_of(self, model: str) -> Any: ...

    def dtb_of(self, model: str) -> Any: ...


def boot_files_problems(p: ProfileView) -> list[tuple[str, str]]:
    """Userland, CPUs, kernels and dtbs that cannot work together (with what to change)."""
    out: list[tuple[str, str]] = []
    if p.userland is not None and USERLANDS[p.userland][0] != str(p.arch):
        out.append(("userland", f"{p.userland} binaries are not {p.arch}: use "
                                f"{DEFAULT_USERLAND[str(p.arch)]} or change 'arch'"))
        return out
    seen: set[str] = set()
    for i, g in enumerate(p.boot_files):
        for m in g.models:
            if m in seen:
                out.append((f"boot_files[{i}].models", f"{m!r} is in two groups"))
            seen.add(m)
        out += group_problems(i, g, known=set(p.all_models),
                              userland=p.userland_of(p.arch_of(g.models[0])),
                              arch=str(p.arch_of(g.models[0])))
        if p.second_stage.dtb is None and (g.dtb is not None):
            out.append((f"boot_files[{i}].dtb", "second_stage.dtb is null: the second "
                        "stage fetches no dtb; name it there (e.g. dtb)"))
    if p.boot_files and p.second_stage.dtb is not None and "$" not in p.second_stage.dtb:
        lacking = [m for m in p.all_models if p.dtb_of(m) is None]
        if lacking:
            out.append(("boot_files", f"second_stage.dtb fetches {p.second_stage.dtb!r} but "
                        f"no dtb is given for {', '.join(lacking)}"))
    if p.boot_files and str(p.bootloader) == "ipxe":
        out.append(("boot_files", "iPXE boards boot the image's kernel for their arch; "
                                  "boot_files is for U-Boot boards"))
    return out
