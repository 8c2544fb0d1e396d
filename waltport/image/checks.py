"""The check list: a registry of named checks run over one image view.

``run_checks`` is pure (a view, a model and a profile in, a report out);
``check_image`` opens the source (directory, archive or podman image) first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from waltport.errors import WaltportError
from waltport.image import checks_boot as boot
from waltport.image import checks_cpu as cpu
from waltport.image import checks_system as system
from waltport.image.context import FAIL, WARN, CheckReport, CheckResult, Context
from waltport.image.podman import open_source
from waltport.image.view import RootView
from waltport.profile.load import load_profile
from waltport.profile.model import Profile
from waltport.util.paths import boards_dir

# Order is the order of the report: what the server reads first comes first.
# Each check with the name its result carries (used when it cannot run at all).
MANDATORY: tuple[tuple[str, Callable[[Context], CheckResult]], ...] = (
    ("labels.models", boot.check_models_label),
    ("labels.minversion", boot.check_minversion_label),
    ("boot.second-stage", boot.check_second_stage),
    ("boot.fetched-files", boot.check_fetched_files),
    ("boot.symlinks", boot.check_boot_symlinks),
    ("boot.model-files", cpu.check_boot_model_files),
    ("kernel.config", boot.check_kernel_config),
    ("kernel.arch", boot.check_kernel_arch),
    ("kernel.cpu", cpu.check_kernel_cpu),
    ("init", system.check_init),
    ("busybox.applets", system.check_busybox),
    ("busybox.linkage", system.check_busybox_linkage),
    ("commands", system.check_commands),
    ("ssh.server", system.check_ssh),
    ("binaries.arch", system.check_binaries_arch),
    ("userland.cpu", cpu.check_userland_cpu),
    ("archive.members", system.check_archive_members),
)


def run_checks(view: RootView, model: str, profile: Profile | None = None) -> CheckReport:
    """Every check over ``view`` for ``model`` (pure: reads the view, runs nothing)."""
    ctx = Context(view, model, profile)
    results = [_run(name, check, ctx) for name, check in MANDATORY]
    try:
        results += system.optional_checks(ctx)
    except WaltportError as err:
        results.append(CheckResult("optional", WARN, False, (f"could not be checked: {err}",)))
    return CheckReport(view.source, view.kind, model, ctx.arch, tuple(results))


def _run(name: str, check: Callable[[Context], CheckResult], ctx: Context) -> CheckResult:
    """One check; a file it cannot read (a FIFO as the kernel, a file too big) fails that
    check with the reason, and the others still run."""
    try:
        return check(ctx)
    except WaltportError as err:
        return CheckResult(name, FAIL, True, (f"could not be checked: {err}",))


def builtin_profile_for(model: str) -> Profile | None:
    """The built-in board profile that declares ``model``, if any."""
    for path in sorted(boards_dir().glob("*.yaml")):
        profile = load_profile(path)
        if model in profile.all_models:
            return profile
    return None


def resolve_profile(profile: Profile | None, model: str) -> Profile | None:
    return builtin_profile_for(model) if profile is None else profile


def check_image(source: str | Path | RootView, model: str, *,
                profile: Profile | None = None) -> CheckReport:
    """Check an image source for ``model``: a rootfs dir or tarball, a docker-archive or
    oci-archive, an image in podman storage (by name or id), or an open view."""
    prof = resolve_profile(profile, model)
    if isinstance(source, RootView):
        return run_checks(source, model, prof)
    with open_source(str(source)) as view:
        return run_checks(view, model, prof)
