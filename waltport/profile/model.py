"""The board profile: one declarative description every stage reads.

A profile is YAML validated into the frozen :class:`Profile` model.  Field
names follow the YAML keys; ``extra="forbid"`` everywhere so a typo is an
error with its path, never silently ignored.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from waltport.profile.bootfiles import (
    BOOT_COMMAND,
    CPU_NAMES,
    DEFAULT_CPU,
    DEFAULT_FLAVOUR,
    DEFAULT_USERLAND,
    BootGroup,
    Cpu,
    DtbSource,
    KernelSource,
    boot_files_problems,
    kernel_arch_of,
)
from waltport.profile.media import MediaSettings
from waltport.profile.regex import replacement_problems, subset_problems
from waltport.walt import WALT_PREFIX

# Always used with fullmatch: ``^...$`` with re.match accepts a final newline,
# and these values become file names, script tokens and DHCP strings.
MODEL_NAME_RE = re.compile(r"[a-z][a-z0-9-]*")
UBOOT_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HEX_ADDR_RE = re.compile(r"0x[0-9a-fA-F]{1,16}")
DHCP_STRING_MAX = 255


def check_model_name(value: str) -> str:
    """WalT builds paths, image names and DHCP strings from a model name."""
    if not MODEL_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a WalT model name: use [a-z0-9-], starting "
                         "with a letter (WalT builds /boot/<model> and image names from it)")
    if value.endswith("-") or "--" in value:
        raise ValueError(f"{value!r}: a model name cannot end with '-' or contain '--'")
    if len(WALT_PREFIX) + len(value) > DHCP_STRING_MAX:
        raise ValueError(f"{value!r} is too long: walt.node.<model> must fit in "
                         f"{DHCP_STRING_MAX} bytes of a DHCP option")
    return value


def _check_uboot_var(value: str) -> str:
    if not UBOOT_VAR_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    return value


def _check_subset(value: str) -> str:
    problems = subset_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _check_replacement(value: str) -> str:
    problems = replacement_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _check_hex(value: str) -> str:
    if not HEX_ADDR_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a hexadecimal address such as 0x40080000")
    return value


def is_model_name(value: str) -> bool:
    """Pure: True when ``value`` is a model name WalT accepts (see check_model_name)."""
    try:
        check_model_name(value)
    except ValueError:
        return False
    return True


ModelName = Annotated[str, AfterValidator(check_model_name)]
VarName = Annotated[str, AfterValidator(_check_uboot_var)]
HexAddr = Annotated[str, AfterValidator(_check_hex)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arch(StrEnum):
    ARM = "arm"
    ARM64 = "arm64"
    X86 = "x86"
    X86_64 = "x86_64"


class Bootloader(StrEnum):
    UBOOT = "uboot"
    IPXE = "ipxe"


class DhcpIdentifier(StrEnum):
    VCI = "vci"
    UCI = "uci"


class Substitution(_Strict):
    """One ``setexpr <var> sub <regex> <replace> <var>`` step (first match only)."""

    regex: Annotated[str, AfterValidator(_check_subset)]
    replace: Annotated[str, AfterValidator(_check_replacement)] = ""


class TableEntry(_Strict):
    """What one exact value of the source variable selects."""

    model: ModelName
    set: dict[VarName, Annotated[str, AfterValidator(_check_replacement)]] = Field(
        default_factory=dict)


class UBootDetect(_Strict):
    """Sub-model from a U-Boot variable: ordered substitutions, then an optional table.

    Without a table, the value left after the substitutions is the model.
    With a table, that value is looked up (exact match); ``default`` applies
    when nothing matches, and without a default the board resets.
    """

    method: Literal["uboot"]
    source: VarName
    substitutions: list[Substitution] = Field(default_factory=list)
    table: dict[str, TableEntry] = Field(default_factory=dict)
    default: TableEntry | None = None

    @model_validator(mode="after")
    def _needs_rules(self) -> UBootDetect:
        if not self.substitutions and not self.table:
            raise ValueError("give substitutions, a table, or both")
        for key in self.table:
            if problems := replacement_problems(key):
                raise ValueError(f"table key {key!r}: {'; '.join(problems)}")
        return self


class IpxeCpuidDetect(_Strict):
    """PC nodes: ``cpuid --ext 29`` tells a 64-bit CPU (long mode) from a 32-bit one."""

    method: Literal["ipxe-cpuid"]
    if_64bit: ModelName
    otherwise: ModelName


Detect = Annotated[UBootDetect | IpxeCpuidDetect, Field(discriminator="method")]


class Addresses(_Strict):
    """Explicit U-Boot load addresses (when the board's defaults are missing or wrong)."""

    kernel: HexAddr
    fdt: HexAddr
    ramdisk: HexAddr
    script: HexAddr


class UBootSettings(_Strict):
    addresses: Literal["board-defaults"] | Addresses = "board-defaults"
    boot_command: Literal["booti", "bootz", "bootm"]
    console_buffer: int = Field(default=1024, ge=256, le=65536,
                                description="CONFIG_SYS_CBSIZE; the bootcommand must fit")
    boot_retry_seconds: int = Field(default=15, ge=1)
    watchdog_seconds: int = Field(default=15, ge=0)
    kernel_compression: Literal["none", "gzip"] = Field(
        default="none",
        description="gzip: the image stores the arm64 Image gzip'd and booti inflates it "
                    "(U-Boot >= 2020.07, given kernel_comp_addr_r and kernel_comp_size)")
    kernel_comp_addr: HexAddr | None = Field(
        default=None,
        description="where booti copies the compressed Image before inflating it into "
                    "kernel_addr_r (default: the board's own ${kernel_comp_addr_r})")
    # TFTP options the second stage asks for (U-Boot's tftpblocksize and
    # tftpwindowsize, read by CONFIG_NET_TFTP_VARS builds); None keeps the
    # board's defaults.  Above 1468 bytes a block spans IP fragments, which
    # U-Boot reassembles only with CONFIG_IP_DEFRAG (Debian's qemu_arm64 build
    # silently keeps 1468); a window needs U-Boot >= 2020.07 and an Ethernet
    # receive ring deeper than the window (qemu_arm64's virtio-net: 32
    # buffers; a window of 32 stalls).  Servers without RFC 7440 (tftpd-hpa)
    # ignore the window and the board falls back to one block per ACK.
    tftp_blocksize: int | None = Field(default=None, ge=512, le=65464,
                                       description="U-Boot's tftpblocksize (RFC 2348)")
    tftp_windowsize: int | None = Field(default=None, ge=1, le=64,
                                        description="U-Boot's tftpwindowsize (RFC 7440); "
                                                    "the bench server accepts at most 64")


class IpxeSettings(_Strict):
    """iPXE specifics: the sub-model of a PC is ``${manufacturer}/${product}``."""

    submodel_from_smbios: bool = True


class KernelSettings(_Strict):
    console: str | None = None
    extra_args: list[str] = Field(default_factory=list)
    nfs_version: Literal[3, 4] = 3
    init: str = "/bin/walt-init"

    @model_validator(mode="after")
    def _no_quotes(self) -> KernelSettings:
        for arg in [*self.extra_args, self.console or "", self.init]:
            if any(c in arg for c in "\"'`;"):
                raise ValueError(f"kernel argument {arg!r} contains a quote or ';'")
            if any(c.isspace() for c in arg):
                raise ValueError(f"kernel argument {arg!r} contains whitespace: "
                                 "give one argument per list item")
        return self


class SecondStage(_Strict):
    """Files the second stage fetches by TFTP, relative to the node's directory."""

    kernel: str = "kernel"
    dtb: str | None = None
    initrd: str | None = "initrd"

    @model_validator(mode="after")
    def _plain_names(self) -> SecondStage:
        for name in (self.kernel, self.dtb, self.initrd):
            if name is not None and (not name or name.startswith("/") or ".." in name
                                     or any(c.isspace() or c in "\"';" for c in name)):
                raise ValueError(f"file name {name!r} must be a relative TFTP path "
                                 "without '..', spaces or quotes")
        return self


# Debian's names, as the archive spells them (checked here and by image.debian).
DEBIAN_SUITE = r"[a-z][a-z0-9-]{1,30}"
DEBIAN_PACKAGE = r"[a-z0-9][a-z0-9+.-]+"


class ImageSettings(_Strict):
    """The default image: which base, and for the Debian base which suite and extras."""

    base: Literal["minimal", "debian"] = Field(
        default="minimal", description="minimal: busybox + dropbear (fast, the virtual "
                                       "boards); debian: mmdebstrap of a Debian suite")
    suite: str = Field(default="bookworm", pattern=f"^{DEBIAN_SUITE}$",
                       description="Debian suite of the debian base")
    packages: list[Annotated[str, Field(pattern=f"^{DEBIAN_PACKAGE}$")]] = Field(
        default_factory=list, description="Debian packages added to the debian base")


class Profile(_Strict):
    """A board profile.  ``model`` for a single kind, ``models`` + ``detect`` for a family."""

    name: ModelName
    description: str = ""
    arch: Arch
    bootloader: Bootloader
    dhcp_identifier: DhcpIdentifier
    model: ModelName | None = None
    models: list[ModelName] = Field(default_factory=list)
    detect: Detect | None = None
    model_arch: dict[ModelName, Arch] = Field(
        default_factory=dict,
        description="sub-models whose CPU differs from the family's 'arch' -> their arch "
                    "(e.g. the 32-bit PC of an x86_64 iPXE family): their kernel, image "
                    "and binaries are of that arch")
    samples: dict[str, str] = Field(
        default_factory=dict,
        description="example values of the detection source -> expected model (checked)")
    userland: Literal["armel", "armhf", "arm64", "i386", "amd64"] | None = Field(
        default=None, description="Debian arch of the default image's binaries (default: "
                                  "the arch's: armhf, arm64, i386, amd64); armel for ARMv6")
    boot_files: list[BootGroup] = Field(
        default_factory=list,
        description="per model (or group of models): CPU, kernel and dtb")
    uboot: UBootSettings | None = None
    ipxe: IpxeSettings | None = None
    kernel: KernelSettings = Field(default_factory=KernelSettings)
    second_stage: SecondStage = Field(default_factory=SecondStage)
    media: MediaSettings = Field(default_factory=MediaSettings,
                                 description="the card / USB key `waltport media` writes")
    image: ImageSettings = Field(default_factory=ImageSettings)

    @model_validator(mode="after")
    def _coherent(self) -> Profile:
        problems = coherence_problems(self)
        if problems:
            # One line per problem, "path: reason"; the loader splits them back
            # into separate FieldProblems so every one is reported at once.
            raise ValueError("\n".join(f"{path}: {reason}" for path, reason in problems))
        return self

    @property
    def all_models(self) -> tuple[str, ...]:
        return (self.model,) if self.model is not None else tuple(self.models)

    @property
    def declared_outputs(self) -> tuple[str, ...]:
        """Models the detection rules can name explicitly (table entries, defaults)."""
        d = self.detect
        if isinstance(d, IpxeCpuidDetect):
            return (d.if_64bit, d.otherwise)
        if isinstance(d, UBootDetect):
            out = [e.model for e in d.table.values()]
            if d.default is not None:
                out.append(d.default.model)
            return tuple(out)
        return ()

    def arch_of(self, model: str) -> Arch:
        """The architecture of ``model``'s CPU: its ``model_arch`` entry, else ``arch``."""
        return self.model_arch.get(model, self.arch)

    def models_of_arch(self, arch: Arch | str) -> tuple[str, ...]:
        """The models whose CPU is ``arch``, in profile order (one default image serves them)."""
        return tuple(m for m in self.all_models if self.arch_of(m) == arch)

    def userland_of(self, arch: Arch | str) -> str:
        """The Debian arch of the image of ``arch`` (the family's ``userland``, else default)."""
        if str(arch) == str(self.arch) and self.userland is not None:
            return self.userland
        return DEFAULT_USERLAND[str(arch)]

    def boot_group(self, model: str) -> BootGroup | None:
        """The ``boot_files`` group that lists ``model``, if any."""
        return next((g for g in self.boot_files if model in g.models), None)

    def cpu_of(self, model: str) -> Cpu:
        """The model's CPU: its boot-files group's, else the default of its arch."""
        g = self.boot_group(model)
        return CPU_NAMES[g.cpu] if g is not None else DEFAULT_CPU[str(self.arch_of(model))]

    def kernel_of(self, model: str) -> KernelSource:
        """A Debian kernel flavour, or the porter's file, for ``model``."""
        g = self.boot_group(model)
        return g.kernel if g is not None else DEFAULT_FLAVOUR[str(self.arch_of(model))]

    def kernel_arch(self, model: str) -> str:
        """The arch of ``model``'s kernel image (it may differ from the userland's)."""
        g = self.boot_group(model)
        return kernel_arch_of(g) if g is not None else str(self.arch_of(model))

    def dtb_of(self, model: str) -> DtbSource | None:
        g = self.boot_group(model)
        return g.dtb_of(model) if g is not None else None

    def boot_command_of(self, model: str) -> str:
        """U-Boot's boot command for ``model``: its kernel's format decides (booti/bootz)."""
        assert self.uboot is not None
        if self.boot_group(model) is None:
            return self.uboot.boot_command
        return BOOT_COMMAND.get(self.kernel_arch(model), self.uboot.boot_command)

    def identifier(self, model: str) -> str:
        """The DHCP class string a node of ``model`` must send."""
        return WALT_PREFIX + model


def coherence_problems(p: Profile) -> list[tuple[str, str]]:
    """Cross-field rules, each as (field path, reason)."""
    problems: list[tuple[str, str]] = []
    if (p.model is None) == (not p.models):
        problems.append(("model", "give either 'model' (one kind of node) or 'models' "
                                  "(a family), not both or neither"))
    if p.models and len(set(p.models)) != len(p.models):
        problems.append(("models", "a model is listed twice"))
    if len(p.models) > 1 and p.detect is None:
        problems.append(("detect", "a family of several models needs detection rules"))
    if p.bootloader is Bootloader.UBOOT:
        if p.uboot is None:
            problems.append(("uboot", "bootloader uboot needs a 'uboot' section "
                                      "(at least boot_command)"))
        if p.ipxe is not None:
            problems.append(("ipxe", "an 'ipxe' section makes no sense on a U-Boot board"))
        if p.dhcp_identifier is DhcpIdentifier.UCI:
            problems.append(("dhcp_identifier", "U-Boot cannot send a user class (option 77):"
                                                " use vci (U-Boot's bootp_vci variable)"))
        if isinstance(p.detect, IpxeCpuidDetect):
            problems.append(("detect.method", "ipxe-cpuid needs bootloader ipxe"))
    else:
        if p.uboot is not None:
            problems.append(("uboot", "a 'uboot' section makes no sense on an iPXE board"))
        if p.dhcp_identifier is DhcpIdentifier.VCI:
            problems.append(("dhcp_identifier", "iPXE's vendor class is fixed when iPXE is "
                                                "built: use uci (set user-class)"))
        if isinstance(p.detect, UBootDetect):
            problems.append(("detect.method", "uboot detection needs bootloader uboot"))
        if p.arch not in (Arch.X86, Arch.X86_64):
            problems.append(("arch", f"iPXE boards are PCs: {p.arch} is not x86 or x86_64"))
    known = set(p.all_models)
    for produced in p.declared_outputs:
        if produced not in known:
            problems.append(("detect", f"the rules can select {produced!r}, "
                                       "which is not in 'models'"))
    for value, expected in p.samples.items():
        if expected not in known:
            problems.append((f"samples.{value}", f"expects {expected!r}, "
                                                 "which is not in 'models'"))
    for model, arch in p.model_arch.items():
        if model not in known:
            problems.append((f"model_arch.{model}", "not in 'models': only a listed "
                                                    "sub-model can have its own arch"))
        elif p.bootloader is Bootloader.IPXE and arch not in (Arch.X86, Arch.X86_64):
            problems.append((f"model_arch.{model}", f"iPXE boards are PCs: {arch} is not "
                                                    "x86 or x86_64"))
    if isinstance(p.detect, IpxeCpuidDetect) and p.arch_of(p.detect.if_64bit) is Arch.X86:
        problems.append((f"model_arch.{p.detect.if_64bit}",
                         "the model of a CPU with long mode (if_64bit) cannot be x86"))
    if isinstance(p.detect, IpxeCpuidDetect) and p.arch_of(p.detect.otherwise) is Arch.X86_64:
        problems.append((f"model_arch.{p.detect.otherwise}",
                         "the cpuid fallback (otherwise) runs on a CPU without long mode: "
                         "declare its arch x86 in model_arch"))
    problems += boot_files_problems(p)
    if p.uboot is not None and p.uboot.kernel_compression == "gzip" and \
            not any(p.boot_command_of(m) == "booti" for m in p.all_models):
        # Only booti models get a gzip'd Image; a zImage (bootz) inflates itself.
        problems.append(("uboot.kernel_compression", "gzip is for booti (arm64 Image); no "
                         "model of this profile boots with booti"))
    if p.samples and p.detect is None:
        problems.append(("samples", "samples given without detection rules"))
    return problems

