"""Lint generated (or hand-written) boot scripts: pure text -> findings with line numbers.

Rules (codes are stable, tests and reports use them):
  W001  DHCP identifier: walt.node.<model> is set, of the right kind, <= 255 bytes
  W002  a CONFIG_BOOTCOMMAND value contains a double quote
  W003  a fallible network or boot step has no failure path (``|| reset`` ...)
  W004  a variable is used but neither set by the script nor provided by the bootloader
  W005  the bootcommand does not fit U-Boot's console buffer (CONFIG_SYS_CBSIZE)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from waltport.bootloader.render import render_texts
from waltport.profile.model import (
    DHCP_STRING_MAX,
    MODEL_NAME_RE,
    Bootloader,
    DhcpIdentifier,
    Profile,
    UBootDetect,
)
from waltport.walt import WALT_PREFIX

# Variables U-Boot sets itself (board defaults, network stack) or the board provides.
UBOOT_PROVIDED = frozenset({
    "kernel_addr_r", "fdt_addr_r", "ramdisk_addr_r", "scriptaddr", "pxefile_addr_r",
    "fdtcontroladdr", "fdtfile", "fdt_file", "loadaddr", "ipaddr", "serverip", "gatewayip",
    "netmask", "hostname", "ethaddr", "filesize", "bootfile", "dnsip", "board", "board_name",
    "soc", "cpu", "vendor", "arch",
})
# iPXE settings available after DHCP, plus SMBIOS and build facts.
IPXE_PROVIDED = frozenset({
    "next-server", "ip", "netmask", "gateway", "dns", "hostname", "mac", "mac:hexhyp",
    "mac:hexraw", "filename", "manufacturer", "product", "serial", "uuid", "asset",
    "buildarch", "platform", "user-class", "net0/mac", "net0/ip",
})
UBOOT_FALLIBLE = frozenset({"dhcp", "tftp", "tftpboot", "source", "bootp", "pxe", "booti",
                            "bootz", "bootm", "load", "fatload", "ext4load", "nfs"})
IPXE_FALLIBLE = frozenset({"dhcp", "ifconf", "chain", "kernel", "initrd", "imgfetch",
                           "module", "boot", "imgexec", "sanboot"})
_RECOVERY = {Bootloader.UBOOT: "reset", Bootloader.IPXE: "reboot"}
_VAR_RE = re.compile(r"\$\{([^}]+)\}")
_SET_RE = re.compile(r"^(?:setenv|setexpr|set|env set)\s+([A-Za-z0-9_:/.-]+)")


@dataclass(frozen=True)
class Finding:
    """One lint finding, located by artifact and line."""

    artifact: str
    line: int
    code: str
    severity: str  # "error" | "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.artifact}:{self.line}: {self.code} {self.severity}: {self.message}"


def _statements(text: str) -> list[tuple[int, str]]:
    """(line number, statement) pairs: comments dropped, ``;`` splits statements."""
    out: list[tuple[int, str]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for part in _split_semicolons(line):
            if part:
                out.append((n, part))
    return out


def _split_semicolons(line: str) -> list[str]:
    parts, cur, quote = [], [], ""
    for ch in line:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == ";":
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


_KEYWORDS = ("if ", "elif ", "then ", "else ", "while ", "do ")


def _command_words(stmt: str) -> tuple[str, bool]:
    """The command a statement runs and whether it is an if/while condition."""
    s = stmt
    is_condition = False
    for kw in _KEYWORDS:
        if s.startswith(kw):
            is_condition = kw.strip() in ("if", "elif", "while")
            s = s[len(kw):].strip()
            break
    words = s.split()
    return (words[0] if words else ""), is_condition


def lint_script(text: str, artifact: str, *, bootloader: Bootloader,
                provided: frozenset[str] = frozenset()) -> list[Finding]:
    """W003 and W004 over one script."""
    findings: list[Finding] = []
    fallible = UBOOT_FALLIBLE if bootloader is Bootloader.UBOOT else IPXE_FALLIBLE
    known = (UBOOT_PROVIDED if bootloader is Bootloader.UBOOT else IPXE_PROVIDED) | provided
    defined: set[str] = set()
    for n, stmt in _statements(text):
        cmd, is_condition = _command_words(stmt)
        if cmd in fallible and "||" not in stmt and not is_condition and "&&" not in stmt:
            findings.append(Finding(artifact, n, "W003", "error",
                                    f"'{cmd}' can fail and has no failure path: add "
                                    f"'|| {_RECOVERY[bootloader]}'"))
        for name in _VAR_RE.findall(stmt):
            if name not in known and name not in defined:
                findings.append(Finding(artifact, n, "W004", "error",
                                        f"${{{name}}} is used but never set"))
        defined |= _names_set(stmt)
    return findings


def _strip_keyword(stmt: str) -> str:
    for kw in _KEYWORDS:
        if stmt.startswith(kw):
            return stmt[len(kw):].strip()
    return stmt


def _names_set(stmt: str) -> set[str]:
    """Variables one statement sets, in any of its ``||`` / ``&&`` clauses."""
    matches = (_SET_RE.match(_strip_keyword(clause.strip()))
               for clause in re.split(r"\|\||&&", stmt))
    return {m.group(1) for m in matches if m}


def variables_set(text: str) -> frozenset[str]:
    """Names a script sets (a first stage hands them to the second)."""
    return frozenset(name for _, stmt in _statements(text) for name in _names_set(stmt))


def lint_identifier(profile: Profile, first_stage: str, artifact: str) -> list[Finding]:
    """W001: the first stage sets walt.node.<model> in the right option."""
    findings: list[Finding] = []
    if profile.bootloader is Bootloader.UBOOT:
        setter = re.compile(r"setenv\s+bootp_vci\s+(\S+)")
    else:
        setter = re.compile(r"set\s+user-class\s+(\S+)")
    hits = [(n, m.group(1)) for n, stmt in _statements(first_stage)
            for m in [setter.search(stmt)] if m]
    if not hits:
        kind = ("vendor class (setenv bootp_vci ...)"
                if profile.dhcp_identifier is DhcpIdentifier.VCI
                else "user class (set user-class ...)")
        return [Finding(artifact, 0, "W001", "error",
                        f"no {kind} is set: the WalT server would not recognise the node")]
    for n, value in hits:
        if not value.startswith(WALT_PREFIX):
            findings.append(Finding(artifact, n, "W001", "error",
                                    f"identifier {value!r} does not start with {WALT_PREFIX}"))
            continue
        for model in profile.all_models:
            ident = value.replace("${walt_model}", model)
            tail = ident[len(WALT_PREFIX):]
            if len(ident.encode()) > DHCP_STRING_MAX:
                findings.append(Finding(artifact, n, "W001", "error",
                                        f"{ident!r} is longer than {DHCP_STRING_MAX} bytes"))
            if not MODEL_NAME_RE.fullmatch(tail):
                findings.append(Finding(artifact, n, "W001", "error",
                                        f"{ident!r}: model {tail!r} is outside WalT's alphabet"))
    return findings


def lint_bootcommand(fragment: str, artifact: str, cbsize: int,
                     provided: frozenset[str] = frozenset()) -> list[Finding]:
    """W002/W005 on a Kconfig fragment, plus W003 on the command it holds."""
    findings: list[Finding] = []
    for n, line in enumerate(fragment.splitlines(), 1):
        if not line.startswith("CONFIG_BOOTCOMMAND="):
            continue
        raw = line[len("CONFIG_BOOTCOMMAND="):]
        if not (raw.startswith('"') and raw.endswith('"') and len(raw) >= 2):
            findings.append(Finding(artifact, n, "W002", "error",
                                    "CONFIG_BOOTCOMMAND value must be one double-quoted string"))
            continue
        value = raw[1:-1]
        if '"' in value:
            findings.append(Finding(artifact, n, "W002", "error",
                                    "the bootcommand contains a double quote: Kconfig strings "
                                    "cannot carry it"))
        if len(value) + 1 > cbsize:
            findings.append(Finding(artifact, n, "W005", "error",
                                    f"the bootcommand is {len(value)} bytes; it must fit in "
                                    f"CONFIG_SYS_CBSIZE={cbsize}"))
        for f in lint_script(value.replace("\\\\", "\\"), artifact,
                             bootloader=Bootloader.UBOOT, provided=provided):
            findings.append(Finding(artifact, n, f.code, f.severity, f.message))
        return findings
    return [Finding(artifact, 0, "W002", "error", "no CONFIG_BOOTCOMMAND line")]


def lint_texts(profile: Profile, texts: dict[str, str]) -> list[Finding]:
    """Lint a profile's rendered text artifacts (see render.render_texts)."""
    findings: list[Finding] = []
    if profile.bootloader is Bootloader.UBOOT:
        first, second = "boot.scr.txt", "start.uboot.txt"
        source = (frozenset({profile.detect.source})
                  if isinstance(profile.detect, UBootDetect) else frozenset())
        findings += lint_identifier(profile, texts[first], first)
        findings += lint_script(texts[first], first, bootloader=profile.bootloader,
                                provided=source)
        findings += lint_script(texts[second], second, bootloader=profile.bootloader,
                                provided=variables_set(texts[first]))
        assert profile.uboot is not None
        findings += lint_bootcommand(texts["bootcommand.fragment"], "bootcommand.fragment",
                                     profile.uboot.console_buffer, source)
    else:
        first, second = "boot.ipxe", "start.ipxe"
        findings += lint_identifier(profile, texts[first], first)
        for name in (first, second):
            if not texts[name].startswith("#!ipxe"):
                findings.append(Finding(name, 1, "W003", "error",
                                        "an iPXE script must start with #!ipxe"))
        findings += lint_script(texts[first], first, bootloader=profile.bootloader)
        findings += lint_script(texts[second], second, bootloader=profile.bootloader,
                                provided=variables_set(texts[first]))
    return findings


def lint_profile(profile: Profile) -> list[Finding]:
    """Render the profile's scripts and lint them."""
    return lint_texts(profile, render_texts(profile))
