"""Sub-model simulator: what model would the generated first stage pick?

Pure functions with the semantics of the generated scripts:

* U-Boot ``setexpr <var> sub <regex> <replace> <var>`` finds the first
  match and replaces the first occurrence of the matched text; when nothing
  matches U-Boot prints "No match", returns 1 and leaves the variable
  unchanged, which the script tolerates (same here).  Profiles
  are restricted to the regex subset of :mod:`waltport.profile.regex`, where
  Python's ``re`` and U-Boot's engine agree; the lab cross-check proves it on
  the real U-Boot.
* A table is an exact string match after the substitutions.
* iPXE ``cpuid --ext 29`` succeeds on a 64-bit (long mode) CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from waltport.errors import WaltportError
from waltport.profile.model import IpxeCpuidDetect, Profile, UBootDetect


class DetectError(WaltportError):
    """Detection inputs are missing or the rules select nothing."""

    exit_code = 2


@dataclass(frozen=True)
class Step:
    """One rule applied: what it did to the value."""

    rule: str
    before: str
    after: str
    matched: bool


@dataclass(frozen=True)
class Detection:
    """The outcome of the rules for one set of board variables."""

    model: str | None          # None: the board would reset (no rule selected a model)
    known: bool                 # the model is one the profile lists
    identifier: str | None      # walt.node.<model>
    variables: dict[str, str] = field(default_factory=dict)  # extra variables set
    steps: tuple[Step, ...] = ()


def uboot_sub(value: str, regex: str, replace: str) -> tuple[str, bool]:
    """``setexpr x sub regex replace value``, as U-Boot 2023.01 does it.

    U-Boot finds the first match, then replaces the first *occurrence of the
    matched text* in the value (``b$`` on ``bab`` gives ``Nab``, not ``baN``).
    No match: the value is unchanged.
    """
    m = re.search(regex, value)
    if m is None:
        return value, False
    return value.replace(m.group(0), replace, 1), True


def detect(profile: Profile, env: dict[str, str] | None = None, *,
           cpu_64bit: bool = True) -> Detection:
    """Evaluate the profile's rules against board variables ``env``."""
    env = env or {}
    d = profile.detect
    if d is None:
        model = profile.all_models[0]
        return Detection(model, True, profile.identifier(model))
    if isinstance(d, IpxeCpuidDetect):
        model = d.if_64bit if cpu_64bit else d.otherwise
        step = Step("cpuid --ext 29", "64-bit" if cpu_64bit else "32-bit", model, cpu_64bit)
        return Detection(model, model in profile.all_models, profile.identifier(model),
                         steps=(step,))
    return _detect_uboot(profile, d, env)


def _detect_uboot(profile: Profile, d: UBootDetect, env: dict[str, str]) -> Detection:
    if d.source not in env:
        raise DetectError(f"the rules read U-Boot variable {d.source!r}: give "
                          f"{d.source}=VALUE")
    value = env[d.source]
    steps: list[Step] = []
    for sub in d.substitutions:
        after, matched = uboot_sub(value, sub.regex, sub.replace)
        steps.append(Step(f"sub '{sub.regex}' -> '{sub.replace}'", value, after, matched))
        value = after
    variables: dict[str, str] = {}
    if d.table:
        entry = d.table.get(value, d.default)
        steps.append(Step("table" if value in d.table else "table default",
                          value, entry.model if entry else "(reset)", value in d.table))
        if entry is None:
            return Detection(None, False, None, steps=tuple(steps))
        model = entry.model
        variables = dict(entry.set)
    else:
        model = value
    return Detection(model, model in profile.all_models, profile.identifier(model),
                     variables, tuple(steps))


def check_samples(profile: Profile) -> list[tuple[str, str, str | None]]:
    """Samples whose detected model differs: (value, expected, got)."""
    bad: list[tuple[str, str, str | None]] = []
    d = profile.detect
    for value, expected in profile.samples.items():
        if isinstance(d, UBootDetect):
            got = detect(profile, {d.source: value}).model
        elif isinstance(d, IpxeCpuidDetect):
            got = detect(profile, cpu_64bit=value in ("64", "64bit", "64-bit", "true")).model
        else:
            got = profile.all_models[0]
        if got != expected:
            bad.append((value, expected, got))
    return bad
