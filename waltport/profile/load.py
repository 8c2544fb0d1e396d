"""Read a profile file into a validated :class:`Profile` (every problem reported at once)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from waltport.errors import FieldProblem, ProfileError
from waltport.profile.model import Profile

_UNION_TAGS = {"uboot", "ipxe-cpuid"}
# The largest built-in profile is 2 KiB; YAML parsing of a huge file costs
# minutes and gigabytes before validation could say anything.
MAX_PROFILE_BYTES = 256 << 10


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        # Pydantic inserts the discriminator value ("uboot") after "detect".
        if i > 0 and loc[i - 1] == "detect" and item in _UNION_TAGS:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def problems_from_validation(err: ValidationError) -> list[FieldProblem]:
    """Turn pydantic's errors into ``FieldProblem`` s with readable paths."""
    out: list[FieldProblem] = []
    for e in err.errors():
        path = _loc_to_path(tuple(e["loc"]))
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo?)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        if "\n" in msg or (path == "(top level)" and ": " in msg):
            # Cross-field problems come back as "path: reason" lines.
            for line in msg.splitlines():
                sub, _, reason = line.partition(": ")
                prefix = "" if path == "(top level)" else path + "."
                out.append(FieldProblem(prefix + sub, reason))
        else:
            out.append(FieldProblem(path, msg))
    return out


def parse_profile(text: str, source: str = "<profile>") -> Profile:
    """Pure: YAML text -> Profile, or ProfileError listing every problem."""
    if len(text) > MAX_PROFILE_BYTES:
        raise _too_big(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        reason = getattr(err, "problem", None) or str(err)
        raise ProfileError(source, [FieldProblem(f"(YAML {where})", str(reason))]) from err
    if not isinstance(data, dict):
        raise ProfileError(source, [FieldProblem("(top level)",
                                                 "a profile is a YAML mapping of keys")])
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        raise ProfileError(source, problems_from_validation(err)) from err


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file (at most MAX_PROFILE_BYTES)."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_PROFILE_BYTES + 1)
        if len(raw) > MAX_PROFILE_BYTES:
            raise _too_big(str(p))
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(str(p), [FieldProblem("(file)", f"cannot read: {err}")]) from err
    return parse_profile(text, str(p))


def _too_big(source: str) -> ProfileError:
    return ProfileError(source, [FieldProblem(
        "(file)", f"more than {MAX_PROFILE_BYTES >> 10} KiB: a board profile is a few dozen "
        "lines (is this the right file?)")])


def profile_digest(profile: Profile) -> str:
    """sha256 of the profile's canonical JSON (independent of YAML layout)."""
    canon = profile.model_dump_json(exclude_none=False).encode()
    return hashlib.sha256(canon).hexdigest()


def dump_profile(profile: Profile) -> str:
    """Profile -> YAML text (what the notebook form saves)."""
    data = profile.model_dump(mode="json", exclude_defaults=True)
    data = {"name": profile.name, **data}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
