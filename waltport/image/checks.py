"""The check list: a registry of named checks run over one image view.

``run_checks`` is pure (a view, a model and a profile in, a report out);
``check_image`` opens the source (directory, archive or podman image) first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from waltport.image import checks_boot as boot
from waltport.image import checks_system as system
from waltport.image.context import CheckReport, CheckResult, Context
from waltport.image.podman import open_source
from waltport.image.view import RootView
from waltport.profile.load import load_profile
from waltport.profile.model import Profile
from waltport.util.paths import boards_dir

# Order is the order of the report: what the server reads first comes first.
MANDATORY: tuple[Callable[[Context], CheckResult], ...] = (
    boot.check_models_label,
    boot.check_minversion_label,
    boot.check_second_stage,
    boot.check_fetched_files,
    boot.check_boot_symlinks,
    boot.check_kernel_config,
    boot.check_kernel_arch,
    system.check_init,
    system.check_busybox,
    system.check_busybox_linkage,
    system.check_commands,
    system.check_ssh,
    system.check_binaries_arch,
)


def run_checks(view: RootView, model: str, profile: Profile | None = None) -> CheckReport:
    """Every check over ``view`` for ``model`` (pure: reads the view, runs nothing)."""
    ctx = Context(view, model, profile)
    results = [check(ctx) for check in MANDATORY] + system.optional_checks(ctx)
    return CheckReport(view.source, view.kind, model, ctx.arch, tuple(results))


def builtin_profile_for(model: str) -> Profile | None:
    """The built-in board profile that declares ``model``, if any."""
    for path in sorted(boards_dir().glob("*.yaml")):
        profile = load_profile(path)
        if model in profile.all_models:
            return profile
    return None


def resolve_profile(profile: Profile | str | Path | None, model: str) -> Profile | None:
    if profile is None:
        return builtin_profile_for(model)
    if isinstance(profile, Profile):
        return profile
    return load_profile(profile)


def check_image(source: str | Path | RootView, model: str, *,
                profile: Profile | str | Path | None = None) -> CheckReport:
    """Check an image source for ``model``: a rootfs dir or tarball, a docker-archive or
    oci-archive, an image in podman storage (by name or id), or an open view."""
    prof = resolve_profile(profile, model)
    if isinstance(source, RootView):
        return run_checks(source, model, prof)
    with open_source(str(source)) as view:
        return run_checks(view, model, prof)
