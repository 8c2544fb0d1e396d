"""Checks on labels, ``/boot`` and the kernel (pure functions of a :class:`Context`)."""

from __future__ import annotations

from waltport.image import kconfig
from waltport.image.context import FAIL, PASS, WARN, CheckResult, Context
from waltport.image.elf import kernel_arch
from waltport.image.initrd import initrd_paths, module_names
from waltport.image.stage2 import Fetch
from waltport.image.view import SYMLINK
from waltport.profile.model import is_model_name

KERNEL_HEAD = 1 << 16


def _result(name: str, problems: list[str], evidence: list[str], *,
            warnings: list[str] | None = None) -> CheckResult:
    status = FAIL if problems else WARN if warnings else PASS
    return CheckResult(name, status, True, tuple(problems + (warnings or []) + evidence))



def check_models_label(ctx: Context) -> CheckResult:
    raw = ctx.labels.get("walt.node.models")
    if raw is None:
        why = "no label walt.node.models: the server ignores the image"
        if ctx.view.kind.startswith("rootfs"):
            why += " (a rootfs carries no labels: check the image built from it)"
        return _result("labels.models", [why], [])
    problems = []
    bad = [name for name in raw.split(",") if not is_model_name(name)]
    if bad:
        problems.append(f"walt.node.models={raw!r} is not a comma-separated list of model "
                        f"names without spaces (bad: {', '.join(map(repr, bad))})")
    if ctx.model not in [m.strip() for m in raw.split(",")]:
        problems.append(f"walt.node.models={raw!r} does not list {ctx.model}")
    return _result("labels.models", problems, [f"walt.node.models={raw}"])


def check_minversion_label(ctx: Context) -> CheckResult:
    raw = ctx.labels.get("walt.server.minversion")
    if raw is None:
        return _result("labels.minversion", ["no label walt.server.minversion (the server "
                                             "assumes 4)"], [])
    if not raw.strip().isdigit():
        return _result("labels.minversion", [f"walt.server.minversion={raw!r} is not an "
                                             "integer"], [])
    return _result("labels.minversion", [], [f"walt.server.minversion={raw}"])


def check_second_stage(ctx: Context) -> CheckResult:
    problems: list[str] = []
    evidence: list[str] = []
    for model, st in ctx.stages.items():
        problems += [f"{model}: {p}" for p in st.problems]
        if st.image is not None:
            arch = st.image.arch_name
            evidence.append(f"{st.path}: script image, arch {arch}, name {st.image.name!r}, "
                            f"{len(st.image.script)} bytes of script, CRCs valid")
            if ctx.arch is not None and arch != ctx.arch:
                problems.append(f"{st.path}: script image arch {arch}, board arch {ctx.arch}")
        elif st.kind == "ipxe" and not st.problems:
            evidence.append(f"{st.path}: iPXE script (#!ipxe)")
        if st.analysis is not None and not st.analysis.boot_commands:
            problems.append(f"{st.path}: no boot command (booti/bootz/bootm/boot/chain)")
        elif st.analysis is not None:
            evidence.append(f"{st.path}: boots with {', '.join(st.analysis.boot_commands)}")
    return _result("boot.second-stage", problems, evidence)


def _all_fetches(ctx: Context, model: str) -> list[tuple[str, Fetch]]:
    st = ctx.stages[model]
    if st.analysis is None:
        return []
    out = [(st.path or "", f) for f in st.analysis.fetches]
    for name, analysis in st.chained:
        out += [(name, f) for f in analysis.fetches]
    return out


def check_fetched_files(ctx: Context) -> CheckResult:
    problems: list[str] = []
    warnings: list[str] = []
    evidence: list[str] = []
    for model, st in ctx.stages.items():
        if st.analysis is None:
            problems.append(f"{model}: no readable second stage to analyse")
            continue
        for script, f in _all_fetches(ctx, model):
            where = f"{script}:{f.line} {f.command} {f.raw}"
            if f.external:
                evidence.append(f"{where}: fetched from outside the image (not checked)")
            elif f.name is None:
                msg = (f"{where}: depends on {', '.join(f.unresolved)} (set at run time): "
                       "not checkable statically")
                # An optional fetch (failure handled) cannot break the boot.
                (evidence if f.need == "optional" else warnings).append(msg)
            else:
                res = ctx.view.resolve(f"/boot/{model}/{f.name}", tftp=True)
                if res.ok:
                    via = f" via {'; '.join(res.hops)}" if res.hops else ""
                    evidence.append(f"{where}: /boot/{model}/{f.name} exists{via}")
                elif f.need == "required":
                    problems.append(f"{where}: required file missing: {res.reason}")
                else:
                    evidence.append(f"{where}: {f.need} file absent ({res.reason})")
    return _result("boot.fetched-files", problems, evidence, warnings=warnings)


def check_boot_symlinks(ctx: Context) -> CheckResult:
    problems: list[str] = []
    evidence: list[str] = []
    for ent in ctx.view.walk("/boot"):
        if ent.kind != SYMLINK:
            continue
        res = ctx.view.resolve(ent.path, tftp=True)
        if res.ok:
            assert res.entry is not None
            evidence.append(f"{ent.path} -> {ent.target} resolves to {res.entry.path}")
        else:
            problems.append(f"{ent.path} -> {ent.target}: {res.reason}")
    if ctx.view.get("/boot") is None:
        problems.append("the image has no /boot")
    elif not evidence and not problems:
        evidence.append("no symlinks under /boot")
    return _result("boot.symlinks", problems, evidence)


def _role_files(ctx: Context, role: str) -> list[str]:
    """The model's files of ``role``: models of a family may boot different kernels."""
    out = []
    for model in (ctx.model,):
        for _script, f in _all_fetches(ctx, model):
            if f.role == role and f.name is not None:
                res = ctx.view.resolve(f"/boot/{model}/{f.name}", tftp=True)
                if res.entry is not None:
                    out.append(res.entry.path)
    return list(dict.fromkeys(out))


def kernel_version(path: str) -> str:
    """``/boot/vmlinuz-6.1.0-57-arm64[.gz]`` -> ``6.1.0-57-arm64``."""
    return path.rsplit("/", 1)[-1].split("-", 1)[-1].removesuffix(".gz")


def _config_for(ctx: Context, kernels: list[str]) -> tuple[str | None, str | None]:
    configs = [f"/boot/{n}" for n in ctx.view.children("/boot") if n.startswith("config-")]
    for k in kernels:
        version = kernel_version(k)
        if f"/boot/config-{version}" in configs:
            return f"/boot/config-{version}", ctx.text(f"/boot/config-{version}")
    if len(configs) == 1:
        return configs[0], ctx.text(configs[0])
    for k in kernels:
        text = kconfig.embedded_config(ctx.view.chunks(k))   # streamed: kernels are big
        if text:
            return f"{k} (embedded IKCONFIG)", text
    return None, None


def check_kernel_config(ctx: Context) -> CheckResult:
    kernels = _role_files(ctx, "kernel")
    where, text = _config_for(ctx, kernels)
    if text is None:
        return _result("kernel.config", ["no kernel configuration: no /boot/config-* and no "
                                         "embedded IKCONFIG in the kernel"], [])
    modules: frozenset[str] | None = None
    evidence = [f"configuration read from {where}"]
    for path in _role_files(ctx, "initrd"):
        paths = initrd_paths(ctx.view.read(path))
        if paths is None:
            evidence.append(f"initrd {path}: format not readable (not newc cpio, gzip or xz)")
            modules = modules or frozenset()
            continue
        modules = (modules or frozenset()) | module_names(paths)
        evidence.append(f"initrd {path}: {len(paths)} entries, {len(module_names(paths))} "
                        "kernel modules")
    verdicts = kconfig.judge(kconfig.parse_config(text), initrd_modules=modules)
    problems = [f"CONFIG_{v.option}={v.value}: {v.why}" for v in verdicts if not v.ok]
    evidence += [f"CONFIG_{v.option}={v.value}: {v.why}" for v in verdicts if v.ok]
    return _result("kernel.config", problems, evidence)


def check_kernel_arch(ctx: Context) -> CheckResult:
    kernels = _role_files(ctx, "kernel")
    if not kernels:
        return _result("kernel.arch", ["no kernel file fetched by the second stage was "
                                       "found in the image"], [])
    problems, evidence = [], []
    # The kernel's arch may differ from the userland's (boot_files: an arm64
    # kernel under an armel userland on a Raspberry Pi 4).
    want = ctx.profile.kernel_arch(ctx.model) if ctx.profile is not None and \
        ctx.model in ctx.profile.all_models else ctx.arch
    for k in kernels:
        info = kernel_arch(ctx.view.read(k, KERNEL_HEAD))
        line = f"{k}: {info.format}, arch {info.arch} ({info.evidence})"
        if info.arch is None or (want is not None and info.arch != want):
            problems.append(f"{line}; the board's kernel is {want}")
        else:
            evidence.append(line)
    if ctx.arch is None:
        return _result("kernel.arch", problems, evidence,
                       warnings=["no board arch known (no profile, no image arch)"])
    return _result("kernel.arch", problems, evidence)
