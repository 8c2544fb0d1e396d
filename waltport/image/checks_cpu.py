"""Checks that each model's boot files and the userland fit the model's CPU (pure).

- ``boot.model-files``: the kernel, dtb and extra files the profile's
  ``boot_files`` give the model are in ``/boot/<model>/`` (a dtb must be a
  flattened device tree); a missing porter file is named with the field.
- ``kernel.cpu``: the model's kernel format and arch against its CPU (arm64
  ``Image``, ARM ``zImage``, x86 ``bzImage``), the boot command against the
  format, and the kernel configuration against the CPU and the userland.
- ``userland.cpu``: the userland's ELF level (ARM EABI ``Tag_CPU_arch``)
  against the oldest CPU of the models in ``walt.node.models``.
"""

from __future__ import annotations

from waltport.image import kconfig
from waltport.image.checks_boot import KERNEL_HEAD, _result, _role_files, kernel_version
from waltport.image.context import CheckResult, Context
from waltport.image.cpulevel import elf_cpu_need
from waltport.image.elf import kernel_arch
from waltport.profile.bootfiles import BOOT_COMMAND, USERLANDS, Cpu, PorterFile
from waltport.profile.model import Bootloader

DTB_MAGIC = b"\xd0\x0d\xfe\xed"
# Kernel arch -> CPUs that can run it (an ARMv8 runs a 32-bit ARM kernel too).
KERNEL_CPUS = {"arm": {Cpu.ARMV6, Cpu.ARMV7, Cpu.ARMV8}, "arm64": {Cpu.ARMV8},
               "x86": {Cpu.X86, Cpu.X86_64}, "x86_64": {Cpu.X86_64}}
# CPU -> kernel options of which one must be =y for a 32-bit ARM kernel to run on it.
ARM_CPU_OPTIONS = {Cpu.ARMV6: ("ARCH_MULTI_V6", "CPU_V6", "CPU_V6K"),
                   Cpu.ARMV7: ("ARCH_MULTI_V7", "CPU_V7"), Cpu.ARMV8: ("ARCH_MULTI_V7", "CPU_V7")}
USERLAND_PATHS = ("/bin/busybox", "/sbin/init", "/usr/sbin/dropbear", "/usr/sbin/sshd")


def _kernel_path(ctx: Context) -> str | None:
    """The model's kernel file: the second stage's (or a chained script's) kernel fetch."""
    kernels = _role_files(ctx, "kernel")
    return kernels[0] if kernels else None


def check_model_files(ctx: Context) -> tuple[list[str], list[str]]:
    """(problems, evidence) for the files ``boot_files`` gives the model."""
    p = ctx.profile
    g = p.boot_group(ctx.model) if p is not None else None
    if p is None or g is None:
        return [], ["no boot_files entry for this model: the kernel and initrd checks apply"]
    where = f"boot_files[{p.boot_files.index(g)}]"
    s = p.second_stage
    wanted: list[tuple[str, object, str]] = [(s.kernel, g.kernel, f"{where}.kernel")]
    dtb = g.dtb_of(ctx.model)
    if dtb is not None and s.dtb:
        wanted.append((s.dtb, dtb, f"{where}.dtb"))
    wanted += [(name, src, f"{where}.files.{name}") for name, src in g.files.items()]
    problems, evidence = [], [f"{ctx.model}: cpu {g.cpu}, kernel "
                              f"{g.kernel if isinstance(g.kernel, str) else 'porter file'}"]
    for name, src, field in wanted:
        path = f"/boot/{ctx.model}/{name}"
        res = ctx.view.resolve(path, tftp=True)
        if res.entry is None:
            if isinstance(src, PorterFile):
                why = f" ({src.why})" if src.why else ""
                problems.append(f"{path}: missing: the porter supplies {src.porter}{why} "
                                f"[{field}]: waltport image build PROFILE --boot-files DIR "
                                f"with DIR/{src.porter}")
            else:
                problems.append(f"{path}: missing ({res.reason}); {field} names {src!r}")
            continue
        via = f" via {'; '.join(res.hops)}" if res.hops else ""
        if field.endswith(".kernel"):
            evidence.append(f"{path}{via}: present")
            continue
        if ctx.view.read(path, 4) != DTB_MAGIC:
            problems.append(f"{path}{via}: not a flattened device tree (no d00dfeed magic)")
        else:
            evidence.append(f"{path}{via}: device tree (magic d00dfeed), from {field}")
    return problems, evidence


def check_boot_model_files(ctx: Context) -> CheckResult:
    problems, evidence = check_model_files(ctx)
    return _result("boot.model-files", problems, evidence)


def _config(ctx: Context, kernel: str) -> dict[str, str] | None:
    text = ctx.text(f"/boot/config-{kernel_version(kernel)}")
    return kconfig.parse_config(text) if text else None


def check_kernel_cpu(ctx: Context) -> CheckResult:
    p = ctx.profile
    if p is None:
        return _result("kernel.cpu", [], [], warnings=["no profile: the model's CPU is unknown"])
    cpu = p.cpu_of(ctx.model)
    kernel = _kernel_path(ctx)
    if kernel is None:
        return _result("kernel.cpu", [f"{ctx.model}: no kernel file fetched by its second "
                                      "stage is in the image"], [])
    info = kernel_arch(ctx.view.read(kernel, KERNEL_HEAD))
    problems, evidence = [], [f"{kernel}: {info.format}, arch {info.arch}; {ctx.model} is "
                                f"{cpu.label}"]
    if info.arch not in KERNEL_CPUS or cpu not in KERNEL_CPUS[info.arch]:
        problems.append(f"{kernel}: the {info.arch} kernel ({info.format}) does not run on "
                        f"{cpu.label} ({ctx.model})")
    st = ctx.stages.get(ctx.model)
    want = BOOT_COMMAND.get(info.arch or "")
    if p.bootloader is Bootloader.UBOOT and want and st is not None and st.analysis:
        cmds = st.analysis.boot_commands
        if want not in cmds and "bootm" not in cmds:
            problems.append(f"{st.path}: boots with {', '.join(cmds) or 'nothing'}; "
                            f"the {info.format} needs {want}")
        else:
            evidence.append(f"{st.path}: {', '.join(cmds)} boots the {info.format}")
    config = _config(ctx, kernel)
    if config is None:
        evidence.append("no /boot/config-<version> for this kernel: CPU options not checked")
    elif info.arch == "arm":
        opts = ARM_CPU_OPTIONS[cpu]
        on = [o for o in opts if config.get(o) == "y"]
        (evidence if on else problems).append(
            f"{kernel}: {', '.join(f'CONFIG_{o}=y' for o in on)} supports {cpu.label}" if on
            else f"{kernel}: none of {', '.join('CONFIG_' + o for o in opts)} is =y: it does "
                 f"not run on {cpu.label}")
    userland = p.userland_of(p.arch_of(ctx.model))
    if info.arch == "arm64" and USERLANDS[userland][0] == "arm" and config is not None:
        # A 32-bit userland on a 64-bit kernel: AArch32 support, and the kuser
        # helpers armel's pre-v6K atomics call.
        needed = ["COMPAT"] + (["KUSER_HELPERS"] if userland == "armel" else [])
        off = [o for o in needed if config.get(o) != "y"]
        (problems if off else evidence).append(
            f"{kernel}: {userland} userland needs {', '.join('CONFIG_' + o + '=y' for o in needed)}"
            + (f"; not set: {', '.join(off)}" if off else ": set"))
    return _result("kernel.cpu", problems, evidence)


def _userland_files(ctx: Context) -> list[str]:
    out = []
    for path in USERLAND_PATHS:
        res = ctx.view.resolve(path)
        if res.entry is not None and res.entry.kind == "file":
            out.append(res.entry.path)
            info = ctx.elf(path)
            if info is not None and info.interpreter and ctx.view.is_file(info.interpreter):
                out.append(info.interpreter)
    return list(dict.fromkeys(out))


def check_userland_cpu(ctx: Context) -> CheckResult:
    p = ctx.profile
    if p is None:
        return _result("userland.cpu", [], [], warnings=["no profile: the models' CPUs are "
                                                         "unknown"])
    cpus = {m: p.cpu_of(m) for m in ctx.models if m in p.all_models}
    oldest_model = min(cpus, key=lambda m: cpus[m])
    oldest = cpus[oldest_model]
    problems, evidence = [], [f"oldest CPU of {', '.join(cpus)}: {oldest.label} "
                                f"({oldest_model})"]
    files = _userland_files(ctx)
    if not files:
        problems.append(f"none of {', '.join(USERLAND_PATHS)} is in the image")
    for path in files:
        need = elf_cpu_need(ctx.view.read(path))
        line = f"{path}: {need.evidence}"
        if need.cpu is None:
            evidence.append(line + " (level not known)")
        elif need.cpu.family != oldest.family or need.cpu > oldest:
            fit = [u for u, (_a, c) in USERLANDS.items()
                   if c.family == oldest.family and c <= oldest]
            problems.append(f"{line}; {oldest_model} is {oldest.label}: build the image with "
                            f"userland {' or '.join(fit) or '(none fits)'}")
        else:
            evidence.append(line)
    return _result("userland.cpu", problems, evidence)
