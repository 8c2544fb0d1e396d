"""The profile form without widgets: form values -> validated profile, detect table, preview.

Pure functions, so the live behaviour of the notebook form is tested
without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from waltport.bootloader.render import render_artifacts
from waltport.errors import ProfileError, WaltportError
from waltport.profile.load import dump_profile, parse_profile
from waltport.profile.model import Bootloader, Profile
from waltport.stages.board import detect_rows

# Sections the form does not edit: kept as loaded, written back unchanged.
KEPT_SECTIONS = ("model_arch", "userland", "boot_files", "uboot", "ipxe", "kernel",
                 "second_stage", "media", "image")
FIRST_STAGE = {Bootloader.UBOOT: ("boot.scr.txt", "bootcommand.fragment"),
               Bootloader.IPXE: ("boot.ipxe",)}


@dataclass(frozen=True)
class FormValues:
    """What the form's fields hold (YAML text for the structured parts)."""

    name: str = ""
    description: str = ""
    arch: str = "arm64"
    bootloader: str = "uboot"
    dhcp_identifier: str = "vci"
    models: str = ""                 # "m1" or "m1, m2, m3"
    detect: str = ""                 # YAML mapping of the detection rules, or empty
    samples: str = ""                # YAML mapping value -> expected model, or empty
    kept: Mapping[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> FormValues:
        return replace(self, **changes)


@dataclass(frozen=True)
class Evaluation:
    """The form's live view: problems, or a profile with its detect table and preview."""

    yaml_text: str
    profile: Profile | None
    problems: tuple[str, ...] = ()
    detect_rows: tuple[Mapping[str, Any], ...] = ()
    preview: Mapping[str, str] = field(default_factory=dict)


def _yaml_block(data: Any) -> str:
    return "" if not data else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def values_from_profile(profile: Profile) -> FormValues:
    data = profile.model_dump(mode="json", exclude_defaults=True)
    return FormValues(
        name=profile.name, description=profile.description, arch=str(profile.arch),
        bootloader=str(profile.bootloader), dhcp_identifier=str(profile.dhcp_identifier),
        models=", ".join(profile.all_models), detect=_yaml_block(data.get("detect")),
        samples=_yaml_block(data.get("samples")),
        kept={k: data[k] for k in KEPT_SECTIONS if k in data})


def _parse_block(text: str, what: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ValueError(f"{what}: not YAML{where}: {getattr(err, 'problem', err)}") from err


def values_to_yaml(v: FormValues) -> str:
    """Pure: form values -> profile YAML text (ValueError when a YAML box does not parse)."""
    models = [m.strip() for m in v.models.split(",") if m.strip()]
    data: dict[str, Any] = {"name": v.name.strip(), "description": v.description,
                            "arch": v.arch, "bootloader": v.bootloader,
                            "dhcp_identifier": v.dhcp_identifier}
    if len(models) == 1:
        data["model"] = models[0]
    else:
        data["models"] = models
    detect = _parse_block(v.detect, "detection rules")
    samples = _parse_block(v.samples, "samples")
    if detect is not None:
        data["detect"] = detect
    if samples is not None:
        data["samples"] = {str(k): val for k, val in samples.items()} \
            if isinstance(samples, dict) else samples
    data.update(v.kept)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def first_stage_preview(profile: Profile) -> dict[str, str]:
    """The first-stage texts the board would run (what goes on the SD card/flash/ROM)."""
    artifacts = render_artifacts(profile)
    return {name: artifacts[name].decode("utf-8", "replace")
            for name in FIRST_STAGE[profile.bootloader] if name in artifacts}


def evaluate(v: FormValues) -> Evaluation:
    """Pure: validate the form, and when valid, detect over the samples and preview."""
    try:
        text = values_to_yaml(v)
    except ValueError as err:
        return Evaluation("", None, (str(err),))
    try:
        profile = parse_profile(text, "<form>")
    except ProfileError as err:
        return Evaluation(text, None, tuple(str(p) for p in err.problems))
    try:
        preview = first_stage_preview(profile)
    except WaltportError as err:
        return Evaluation(text, profile, (f"first stage: {err}",), tuple(detect_rows(profile)))
    return Evaluation(text, profile, (), tuple(detect_rows(profile)), preview)


def saved_text(profile: Profile) -> str:
    """The YAML the Save button writes."""
    return dump_profile(profile)
