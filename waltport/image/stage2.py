"""Static analysis of second-stage scripts: which files do they fetch?

Two small interpreters that run nothing: they walk a U-Boot (hush) or iPXE
script, track ``setenv``/``set`` assignments, expand ``${var}`` where the
value is known, unroll ``for`` loops over known lists, and record every TFTP
fetch with the file name (resolved, or the variables it still depends on),
its role (kernel, initrd, dtb, script...) and how much the boot needs it:

- ``required``: unconditional, or its failure resets the board;
- ``conditional``: inside an ``if`` branch (the file may legitimately be absent);
- ``optional``: the fetch is a condition, or its failure is handled.

Variables the firmware sets at run time (``serverip``, ``kernel_addr_r``,
``next-server``, ``manufacturer``...) stay unresolved; a file name that needs
one of them is reported as such, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from waltport.bootloader.scriptimage import MAGIC, parse_script_image

VAR_RE = re.compile(r"\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
RESET_CMDS = {"reset", "reboot", "poweroff", "exit", "shell"}
UBOOT_FETCH = {"tftp", "tftpboot", "tftpb", "dhcp", "bootp"}
UBOOT_BOOT = {"booti", "bootz", "bootm", "bootefi"}
IPXE_FETCH = {"kernel": "kernel", "initrd": "initrd", "chain": "script", "imgfetch": "other",
              "module": "other", "imgexec": "script", "imgload": "other", "boot": "other"}
IPXE_ARG_OPTS = {"--name", "-n", "--timeout", "-t"}
ROLE_BY_ADDR = (("ramdisk", "initrd"), ("initrd", "initrd"), ("fdtov", "overlay"),
                ("overlay", "overlay"), ("fdt", "dtb"), ("dtb", "dtb"), ("kernel", "kernel"),
                ("script", "script"), ("loadaddr", "kernel"))
MAX_DEPTH = 8


@dataclass(frozen=True)
class Fetch:
    """One file a second stage fetches."""

    command: str
    raw: str                        # the file name as written
    name: str | None                # resolved name relative to the node directory
    unresolved: tuple[str, ...]     # variables that stayed unknown
    role: str                       # kernel | initrd | dtb | overlay | script | other
    need: str                       # required | conditional | optional
    line: int
    external: bool = False          # an http(s):// or other-host URL, not in the image

    def to_json(self) -> dict[str, object]:
        return {"command": self.command, "raw": self.raw, "name": self.name,
                "unresolved": list(self.unresolved), "role": self.role, "need": self.need,
                "line": self.line, "external": self.external}


@dataclass(frozen=True)
class Stage2Analysis:
    kind: str                       # uboot | ipxe
    fetches: tuple[Fetch, ...]
    boot_commands: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def expand(text: str, env: dict[str, str], depth: int = 0) -> tuple[str, tuple[str, ...]]:
    """Expand ``${v}``/``$v`` from ``env``; unknown names stay as ``${v}`` and are listed."""
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        key = name.split(":", 1)[0] if m.group(1) else name
        if key in env:
            val = env[key]
            if depth < MAX_DEPTH and VAR_RE.search(val):
                val, more = expand(val, env, depth + 1)
                missing.extend(more)
            return val
        missing.append(key)
        return "${" + name + "}"

    return VAR_RE.sub(sub, text), tuple(dict.fromkeys(missing))


# --- U-Boot (hush) -----------------------------------------------------------

_OPS = {";", "&&", "||", "\n"}


def _words(text: str) -> list[tuple[str, int]]:
    """Split hush text into words and operators (quotes kept), with line numbers."""
    out: list[tuple[str, int]] = []
    cur, quote, line, i = "", "", 1, 0
    text = text.replace("\\\n", " ")
    while i < len(text):
        c = text[i]
        if quote:
            cur += c
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
            cur += c
        elif c == "#" and not cur:
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif c in " \t\r\n;" or text.startswith(("&&", "||"), i):
            if cur:
                out.append((cur, line))
                cur = ""
            if c == "\n":
                out.append(("\n", line))
                line += 1
            elif c == ";":
                out.append((";", line))
            elif c in "&|":
                out.append((text[i:i + 2], line))
                i += 1
        else:
            cur += c
        i += 1
    if cur:
        out.append((cur, line))
    return out


def _unquote_expand(word: str, env: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    parts = re.findall(r"'[^']*'|\"[^\"]*\"|[^'\"]+", word)
    out = ""
    missing: list[str] = []
    for p in parts:
        if p.startswith("'"):
            out += p[1:-1]
        else:
            val, miss = expand(p.strip('"') if p.startswith('"') else p, env)
            out += val
            missing.extend(miss)
    return out, tuple(missing)


@dataclass
class _UBoot:
    env: dict[str, str]
    fetches: list[Fetch] = field(default_factory=list)
    boots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def run(self, toks: list[tuple[str, int]], need: str, depth: int = 0) -> None:
        i = 0
        while i < len(toks):
            word, _line = toks[i]
            if word in _OPS:
                i += 1
                continue
            if word == "if":
                i = self._if(toks, i, need, depth)
            elif word == "for":
                i = self._for(toks, i, need, depth)
            else:
                i = self._chain(toks, i, need, depth)

    def _until(self, toks: list[tuple[str, int]], i: int, stops: set[str],
               opens: set[str], closes: set[str]) -> int:
        level = 0
        while i < len(toks):
            w = toks[i][0]
            if w in opens:
                level += 1
            elif w in closes and level:
                level -= 1
            elif level == 0 and w in stops and (i == 0 or toks[i - 1][0] in _OPS):
                return i
            i += 1
        return i

    def _if(self, toks: list[tuple[str, int]], i: int, need: str, depth: int) -> int:
        end = self._until(toks, i + 1, {"fi"}, {"if"}, {"fi"})
        body = toks[i + 1:end]
        mode = "optional"
        seg: list[tuple[str, int]] = []
        level = 0
        for w, ln in body:
            at_start = not seg or seg[-1][0] in _OPS
            if w == "if":
                level += 1
            elif w == "fi":
                level -= 1
            if level == 0 and at_start and w in ("then", "elif", "else"):
                self.run(seg, mode, depth)
                seg = []
                mode = "optional" if w == "elif" else "conditional"
                continue
            seg.append((w, ln))
        self.run(seg, mode if need == "required" else need, depth)
        return end + 1

    def _for(self, toks: list[tuple[str, int]], i: int, need: str, depth: int) -> int:
        var = toks[i + 1][0] if i + 1 < len(toks) else ""
        do = self._until(toks, i, {"do"}, set(), set())
        end = self._until(toks, do + 1, {"done"}, {"for"}, {"done"})
        values: list[str] = []
        unresolved = False
        for w, _ in toks[i + 3:do]:
            if w in _OPS:
                continue
            val, miss = _unquote_expand(w, self.env)
            unresolved |= bool(miss)
            values += val.split()
        if unresolved:
            self.notes.append(f"line {toks[i][1]}: loop over {var} uses unknown variables")
        saved = self.env.get(var)
        for v in values:
            self.env[var] = v
            self.run(toks[do + 1:end], need, depth)
        if not values:
            self.env.pop(var, None)
            self.run(toks[do + 1:end], "conditional" if need == "required" else need, depth)
        if saved is not None:
            self.env[var] = saved
        return end + 1

    def _chain(self, toks: list[tuple[str, int]], i: int, need: str, depth: int) -> int:
        cmds: list[list[tuple[str, int]]] = [[]]
        ops: list[str] = []
        while i < len(toks) and toks[i][0] not in (";", "\n"):
            if toks[i][0] in ("&&", "||"):
                ops.append(toks[i][0])
                cmds.append([])
            else:
                cmds[-1].append(toks[i])
            i += 1
        for k, cmd in enumerate(cmds):
            if not cmd:
                continue
            handled = k < len(ops) and (
                ops[k] == "&&" or bool(cmds[k + 1] and cmds[k + 1][0][0] not in RESET_CMDS))
            self._simple(cmd, "optional" if handled and need == "required" else need, depth)
        return i

    def _simple(self, cmd: list[tuple[str, int]], need: str, depth: int) -> None:
        name, line = cmd[0]
        args = [w for w, _ in cmd[1:]]
        if name in ("setenv", "env") and args:
            if name == "env":
                if args[0] != "set":
                    return
                args = args[1:]
            args = [a for a in args if a != "-f"]
            if not args:
                return
            if len(args) == 1:
                self.env.pop(args[0], None)
                return
            vals = [_unquote_expand(a, self.env)[0] for a in args[1:]]
            self.env[args[0]] = " ".join(vals)
        elif name == "setexpr" and args:
            self.env.pop(args[0], None)
        elif name == "run" and depth < MAX_DEPTH:
            for var in args:
                if var in self.env:
                    self.run(_words(self.env[var]), need, depth + 1)
        elif name in UBOOT_FETCH:
            self._fetch(name, args, need, line)
        elif name in UBOOT_BOOT:
            self.boots.append(name)

    def _fetch(self, name: str, args: list[str], need: str, line: int) -> None:
        addr, raw = "", ""
        if len(args) >= 2:
            addr, raw = args[0], args[1]
        elif len(args) == 1:
            if re.fullmatch(r"(0x)?[0-9a-fA-F]+|\$\{?\w*addr\w*\}?", args[0]):
                addr = args[0]
            else:
                raw = args[0]
        if not raw:
            if name in ("dhcp", "bootp") and self.env.get("autoload", "yes") == "no":
                return
            raw = "${bootfile}"
        value, missing = _unquote_expand(raw, self.env)
        value = value.split(":", 1)[1] if re.match(r"^[\d.]+:|^\$\{serverip\}:", value) else value
        missing = tuple(m for m in missing if m != "serverip" or "${serverip}" in value)
        addr_l = addr.lower()
        role = next((r for key, r in ROLE_BY_ADDR if key in addr_l), "other")
        self.fetches.append(Fetch(name, raw, None if missing else value.lstrip("/"), missing,
                                  role, need, line))


def analyse_uboot(text: str, env: dict[str, str] | None = None) -> Stage2Analysis:
    """Analyse a U-Boot script's text (the script inside ``start.uboot``)."""
    st = _UBoot(dict(env or {}))
    st.run(_words(text), "required")
    return Stage2Analysis("uboot", tuple(st.fetches), tuple(st.boots), st.env, tuple(st.notes))


# --- iPXE --------------------------------------------------------------------

def _ipxe_path(url: str) -> tuple[str, bool]:
    """Node-relative path of an iPXE URI; ``external`` for http(s) or other schemes."""
    m = re.match(r"^([a-z][a-z0-9+.-]*)://([^/]*)(/.*)?$", url)
    if m is None:
        return url.lstrip("/"), False
    return (m.group(3) or "").lstrip("/"), m.group(1) != "tftp"


def analyse_ipxe(text: str, env: dict[str, str] | None = None) -> Stage2Analysis:
    """Analyse an iPXE script (``start.ipxe`` or a script it chains)."""
    env = dict(env or {})
    fetches: list[Fetch] = []
    boots: list[str] = []
    notes: list[str] = []
    if not text.startswith("#!ipxe"):
        notes.append("does not start with #!ipxe")
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ":")):
            continue
        parts = re.split(r"\s+(\|\||&&)\s+", stripped)
        cmds = parts[0::2]
        ops = parts[1::2]
        for k, cmd in enumerate(cmds):
            words = cmd.split()
            if not words:
                continue
            handled = k < len(ops) and (ops[k] == "&&" or (cmds[k + 1].split() or [""])[0]
                                         not in RESET_CMDS)
            need = "optional" if handled or k > 0 else "required"
            name, args = words[0], words[1:]
            if name == "set" and args:
                env[args[0]] = expand(" ".join(args[1:]), env)[0]
            elif name == "clear" and args:
                env.pop(args[0], None)
            elif name in IPXE_FETCH:
                if name in ("boot", "chain", "imgexec"):
                    boots.append(name)
                uri = _first_operand(args)
                if uri is None:
                    continue
                value, missing = expand(uri, env)
                path, external = _ipxe_path(value)
                # A variable left in the host part (``${next-server}``) does not
                # change which file of the node directory is fetched.
                missing = tuple(m for m in missing if "${" + m in path)
                fetches.append(Fetch(name, uri, None if missing else path, missing,
                                     IPXE_FETCH[name], need, lineno, external))
    return Stage2Analysis("ipxe", tuple(fetches), tuple(boots), env, tuple(notes))


def analyse_second_stage(data: bytes, source: str = "<script>") -> Stage2Analysis:
    """Analyse a second stage as found on disk: a legacy U-Boot script image
    (validated; raises ``ScriptImageError`` naming each defect), an iPXE script,
    or a plain U-Boot script text."""
    if int.from_bytes(data[:4], "big") == MAGIC:
        return analyse_uboot(parse_script_image(data, source).script.decode("utf-8", "replace"))
    text = data.decode("utf-8", "replace")
    if text.startswith("#!ipxe"):
        return analyse_ipxe(text)
    return analyse_uboot(text)


def _first_operand(args: list[str]) -> str | None:
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in IPXE_ARG_OPTS:
            skip = True
            continue
        if a.startswith("-"):
            continue
        return a
    return None
