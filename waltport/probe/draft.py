"""A draft board profile from a U-Boot's facts, and what the porter must still decide.

*Pure.*  :func:`draft_profile` fills what the board told (arch, boot command,
addresses, detection variable and the value seen as a sample, the TFTP
options that were honoured) and lists the rest: ``must_fill`` are fields
the draft lacks (it does not pass ``waltport check`` until they are given),
``review`` are values the probe chose that a porter should confirm.
:func:`render_draft` writes the YAML with both lists as a header comment;
:func:`check_draft` runs the profile validation and the sample check on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from waltport.errors import ProfileError
from waltport.probe.facts import UBootFacts
from waltport.profile.detect import check_samples, uboot_sub
from waltport.profile.load import parse_profile
from waltport.profile.model import is_model_name

# A device-tree file name -> a model name: drop the directory, the SoC prefix
# ("bcm2837-", "rk3568-": its letters as seen, any digits), the extension.
# Digits spelled out and one quantifier per rule: the subset U-Boot's regex
# engine and Python's agree on (waltport/profile/regex.py).
SOC_PREFIX_RE = re.compile(r"^([a-z]+)[0-9]+([a-z]*)-")
BOOT_COMMAND = {"arm64": ("booti", "bootm"), "arm": ("bootz", "bootm")}
# U-Boot's console device -> Linux's name for the same UART.
LINUX_CONSOLE = (("pl011", "ttyAMA0"),)


@dataclass(frozen=True)
class Fill:
    path: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


@dataclass(frozen=True)
class Draft:
    data: dict[str, Any]
    must_fill: tuple[Fill, ...]
    review: tuple[Fill, ...]

    def to_json(self) -> dict[str, object]:
        return {"profile": self.data, "must_fill": [f.__dict__ for f in self.must_fill],
                "review": [f.__dict__ for f in self.review]}


def fdt_rules(fdtfile: str) -> list[dict[str, str]]:
    """Substitutions that make a model name of a device-tree file name like ``fdtfile``."""
    rules = [{"regex": "^.*/", "replace": ""}]
    soc = SOC_PREFIX_RE.match(fdtfile.rpartition("/")[2])
    if soc:
        rules.append({"regex": f"^{soc.group(1)}[0123456789]*{soc.group(2)}-", "replace": ""})
    return [*rules, {"regex": "[.]dtb$", "replace": ""}]


def fdt_model(fdtfile: str) -> str | None:
    """The model name :func:`fdt_rules` make of ``fdtfile`` (None: not a valid model name)."""
    value = fdtfile
    for rule in fdt_rules(fdtfile):
        value, _ = uboot_sub(value, rule["regex"], rule["replace"])
    return value if is_model_name(value) else None


def safe_name(text: str) -> str | None:
    """``text`` in WalT's model alphabet (lower case, runs of others -> '-'), or None."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return name if name and is_model_name(name) else None


def _detection(f: UBootFacts, name: str, review: list[Fill]) -> dict[str, Any]:
    candidates = f.detection_candidates
    seen = ", ".join(f"{k}={v!r}" for k, v in candidates.items()) or "none"
    fdtfile = candidates.get("fdtfile")
    model = fdt_model(fdtfile) if fdtfile else None
    if fdtfile and model:
        review.append(Fill("models", f"the model name {model!r} is made from fdtfile="
                                     f"{fdtfile!r}; rename it to WalT's name for the board "
                                     "(and its sample), add the family's other boards"))
        return {"models": [model],
                "detect": {"method": "uboot", "source": "fdtfile",
                           "substitutions": fdt_rules(fdtfile)},
                "samples": {fdtfile: model}}
    review.append(Fill("model", f"one kind of node named {name!r}; for a family, add "
                                f"detect rules on one of the board variables seen: {seen}"))
    return {"model": name}


def _uboot(f: UBootFacts, must: list[Fill], review: list[Fill]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    addrs = f.addresses
    needed = ("kernel_addr_r", "ramdisk_addr_r", "scriptaddr")
    absent = [v for v in needed if v not in addrs]
    if absent:
        must.append(Fill("uboot.addresses", f"U-Boot has no {', '.join(absent)}: give "
                                            "{kernel, fdt, ramdisk, script} load addresses "
                                            "inside the board's RAM"))
    else:
        out["addresses"] = "board-defaults"
    choices = BOOT_COMMAND.get(f.arch or "", ())
    have = [c for c in choices if f.has(c) is not False]
    if have:
        out["boot_command"] = have[0]
    else:
        must.append(Fill("uboot.boot_command", f"U-Boot ({f.arch or 'arch unknown'}) lists "
                                               "none of booti/bootz/bootm"))
    honoured = [t for t in f.tftp if t.ok and t.honoured]
    for key, var in (("tftp_blocksize", "tftpblocksize"), ("tftp_windowsize", "tftpwindowsize")):
        values = [int(t.settings[var]) for t in honoured if var in t.settings]
        if values:
            out[key] = max(values)
    return out


def _console(f: UBootFacts, review: list[Fill]) -> str | None:
    device = f.env.get("stdout", "")
    baud = f.env.get("baudrate") or "115200"
    for part, linux in LINUX_CONSOLE:
        if part in device:
            return f"{linux},{baud}"
    review.append(Fill("kernel.console", f"U-Boot's console is {device or 'unknown'!r}: give "
                                         f"Linux's name for that UART (ttyS0, ttyAMA0...),{baud}"))
    return None


def _second_stage(f: UBootFacts, review: list[Fill]) -> dict[str, Any]:
    if "fdt_addr_r" in f.env:
        return {"kernel": "kernel", "dtb": "dtb", "initrd": "initrd"}
    review.append(Fill("second_stage.dtb", "U-Boot has no fdt_addr_r: the draft boots the "
                                           "kernel with U-Boot's own device tree "
                                           "(${fdtcontroladdr}); to load the kernel's dtb give "
                                           "uboot.addresses explicitly"))
    return {"kernel": "kernel", "dtb": None, "initrd": "initrd"}


def draft_profile(f: UBootFacts, name: str) -> Draft:
    """*Pure.* A draft profile for the board behind ``f``, named ``name``."""
    must: list[Fill] = []
    review: list[Fill] = []
    source = f.version or "U-Boot"
    data: dict[str, Any] = {"name": name, "description": f"drafted by waltport probe from {source}"}
    if f.arch:
        data["arch"] = f.arch
    else:
        must.append(Fill("arch", "bdinfo gave no 'Build = NN-bit' line: arm (32-bit U-Boot) "
                                 "or arm64"))
    data.update(bootloader="uboot", dhcp_identifier="vci")
    data.update(_detection(f, name, review))
    data["uboot"] = _uboot(f, must, review)
    data["kernel"] = {"console": _console(f, review)}
    data["second_stage"] = _second_stage(f, review)
    if f.has_nic is False:
        review.append(Fill("uboot", "this U-Boot has no driver for the board's network "
                                    "adapter: the profile cannot netboot with it"))
    return Draft(data, tuple(must), tuple(review))


def render_draft(d: Draft) -> str:
    """The draft as YAML, its open questions as a header comment."""
    head = ["# Draft profile written by `waltport probe` from the board's own bootloader."]
    if d.must_fill:
        head.append("# MUST FILL before `waltport check` passes:")
        head += [f"#   - {f}" for f in d.must_fill]
    if d.review:
        head.append("# REVIEW (chosen by the probe from what the board said):")
        head += [f"#   - {f}" for f in d.review]
    body = yaml.safe_dump(d.data, sort_keys=False, default_flow_style=False, width=100)
    return "\n".join(head) + "\n" + body


def check_draft(text: str, source: str) -> list[str]:
    """Problems ``waltport check`` finds in a draft (empty: it passes)."""
    try:
        profile = parse_profile(text, source)
    except ProfileError as err:
        return [str(p) for p in err.problems]
    return [f"sample {value!r} expects {expected}, the rules give {got}"
            for value, expected, got in check_samples(profile)]
