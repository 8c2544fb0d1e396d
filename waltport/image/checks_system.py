"""Checks on the userland: init, busybox, commands, SSH, binary arch, optional features.

Everything is read from bytes: ELF headers, busybox's applet table, config
files.  The SSH check says exactly what it verified statically (binary of the
right arch with its libraries present, started at boot on port 22, root
allowed to log in by key); that the daemon really answers is proven by the
lab's boot, not here.
"""

from __future__ import annotations

import posixpath
import re

from waltport.image.busybox import REQUIRED_APPLETS, missing_applets
from waltport.image.context import FAIL, OCI_ARCH, PASS, WARN, CheckResult, Context
from waltport.image.elf import ElfInfo

REQUIRED_COMMANDS = ("chmod", "chroot", "cp", "date", "echo", "grep", "head", "ln", "mkdir",
                     "mount", "reboot", "sed", "setsid", "sh", "timeout", "tr", "umount")
LIB_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
            "/lib/arm-linux-gnueabihf", "/usr/lib/arm-linux-gnueabihf", "/lib/arm-linux-gnueabi",
            "/usr/lib/arm-linux-gnueabi", "/lib/i386-linux-gnu",
            "/usr/lib/i386-linux-gnu")
SSHD_PATHS = ("/usr/sbin/dropbear", "/usr/bin/dropbear", "/sbin/dropbear", "/usr/sbin/sshd")
START_FILES = ("/etc/inittab", "/etc/init.d/rcS", "/etc/rc.local")
SYSTEMD_WANTS = ("/etc/systemd/system/multi-user.target.wants/ssh.service",
                 "/etc/systemd/system/multi-user.target.wants/sshd.service",
                 "/etc/systemd/system/multi-user.target.wants/dropbear.service")


def _result(name: str, problems: list[str], evidence: list[str],
            warnings: list[str] | None = None) -> CheckResult:
    status = FAIL if problems else WARN if warnings else PASS
    return CheckResult(name, status, True, tuple(problems + (warnings or []) + evidence))


def _elf_problems(ctx: Context, path: str, info: ElfInfo) -> list[str]:
    """Arch mismatch, missing interpreter or libraries of a dynamic binary."""
    out = []
    if ctx.arch is not None and info.arch != ctx.arch:
        out.append(f"{path}: {info.describe()}, the board is {ctx.arch}")
    if info.interpreter and not ctx.view.is_file(info.interpreter):
        out.append(f"{path}: interpreter {info.interpreter} is not in the image")
    # $ORIGIN is the directory of the binary itself (after its links).
    res = ctx.view.resolve(path)
    origin = posixpath.dirname(res.entry.path) if res.entry is not None else posixpath.dirname(path)
    dirs = [d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin) for d in info.runpath]
    for lib in info.needed:
        if not any(ctx.view.is_file(f"{d}/{lib}") for d in (*dirs, *LIB_DIRS)):
            out.append(f"{path}: needs {lib}, not found in the image's library directories")
    return out


def check_archive_members(ctx: Context) -> CheckResult:
    """Members the archive names in a way that would be renamed or cannot be read
    (absolute or ``..`` names, hard links out of the tree, sparse files)."""
    found = list(ctx.view.findings)
    return _result("archive.members", found,
                   [] if found else ["every member is named inside the image"])


def check_init(ctx: Context) -> CheckResult:
    res = ctx.view.resolve("/sbin/init")
    if res.entry is None:
        return _result("init", [f"/sbin/init: {res.reason}"], [])
    via = f" (via {'; '.join(res.hops)})" if res.hops else ""
    if res.entry.kind != "file" or not res.entry.mode & 0o111:
        return _result("init", [f"/sbin/init{via} is not an executable file"], [])
    info = ctx.elf("/sbin/init")
    if info is not None:
        return _result("init", _elf_problems(ctx, "/sbin/init", info),
                       [f"/sbin/init{via}: {info.describe()}"])
    head = ctx.view.read("/sbin/init", 256)
    if head.startswith(b"#!"):
        interp = head[2:].split(b"\n", 1)[0].split()[0].decode("ascii", "replace")
        if not ctx.view.is_file(interp):
            return _result("init", [f"/sbin/init{via}: interpreter {interp} is missing"], [])
        return _result("init", [], [f"/sbin/init{via}: script run by {interp}"])
    return _result("init", [f"/sbin/init{via}: neither an ELF binary nor a #! script"], [])


def check_busybox(ctx: Context) -> CheckResult:
    info = ctx.elf("/bin/busybox")
    if info is None:
        return _result("busybox.applets", ["/bin/busybox is missing or not an ELF binary"], [])
    found = ctx.busybox_applets
    if not found:
        return _result("busybox.applets", ["/bin/busybox: no applet table found in the binary"],
                       [])
    missing = missing_applets(found, REQUIRED_APPLETS)
    problems = [f"/bin/busybox lacks applets: {' '.join(missing)}"] if missing else []
    return _result("busybox.applets", problems, [
        f"/bin/busybox: {info.describe()}, {len(found)} applets read from its applet table",
        f"required applets present: {' '.join(a for a in REQUIRED_APPLETS if a not in missing)}"])


def check_busybox_linkage(ctx: Context) -> CheckResult:
    info = ctx.elf("/bin/busybox")
    if info is None:
        return _result("busybox.linkage", ["/bin/busybox is missing or not an ELF binary"], [])
    if info.static:
        return _result("busybox.linkage", [], ["/bin/busybox is statically linked"])
    problems = _elf_problems(ctx, "/bin/busybox", info)
    ldd = ctx.which("ldd")
    if ldd is None:
        problems.append("/bin/busybox is dynamically linked and the image has no ldd")
    return _result("busybox.linkage", problems, [f"/bin/busybox: {info.describe()}",
                                                 f"ldd at {ldd}"])


def check_commands(ctx: Context) -> CheckResult:
    problems, evidence = [], []
    bb = ctx.view.resolve("/bin/busybox").entry
    for cmd in REQUIRED_COMMANDS:
        path = ctx.which(cmd)
        if path is None:
            problems.append(f"{cmd}: not found in {', '.join(('/bin', '/sbin', '/usr/bin'))}...")
            continue
        target = ctx.view.resolve(path).entry
        if bb is not None and target == bb:
            if cmd not in ctx.busybox_applets:
                problems.append(f"{path} is busybox, which has no {cmd} applet")
                continue
            evidence.append(f"{cmd}: {path} (busybox applet)")
        else:
            evidence.append(f"{cmd}: {path}")
    return _result("commands", problems, evidence)


def _sshd_start_line(ctx: Context, daemon: str) -> tuple[str, str] | None:
    names = ("dropbear",) if daemon == "dropbear" else ("sshd", "ssh")
    for path in START_FILES:
        for line in ctx.text(path).splitlines():
            if not line.lstrip().startswith("#") and any(re.search(rf"\b{n}\b", line)
                                                         for n in names):
                return path, line.strip()
    for path in SYSTEMD_WANTS:
        if ctx.view.exists(path):
            return path, "systemd unit enabled"
    for rc in ("/etc/rc2.d", "/etc/rc3.d", "/etc/rcS.d"):
        for name in ctx.view.children(rc):
            if name.startswith("S") and any(n in name for n in names):
                return f"{rc}/{name}", "sysvinit link"
    return None


def check_ssh(ctx: Context) -> CheckResult:
    sshd = next((p for p in SSHD_PATHS if ctx.view.is_file(p)), None)
    if sshd is None:
        return _result("ssh.server", [f"no SSH server binary ({', '.join(SSHD_PATHS)})"], [])
    daemon = "dropbear" if "dropbear" in sshd else "openssh"
    info = ctx.elf(sshd)
    problems = _elf_problems(ctx, sshd, info) if info else [f"{sshd} is not an ELF binary"]
    evidence = [f"{sshd}: {info.describe() if info else '?'}; libraries and interpreter "
                "present in the image"]
    start = _sshd_start_line(ctx, daemon)
    if start is None:
        problems.append(f"nothing starts {daemon} at boot (inittab, rcS, systemd, rc links)")
    else:
        evidence.append(f"started by {start[0]}: {start[1]}")
        line = start[1]
        if daemon == "dropbear":
            if re.search(r"\s-\w*w", line):
                problems.append("dropbear is started with -w: root logins disallowed")
            port = re.search(r"-p\s*(?:\S*:)?(\d+)", line)
            if port and port.group(1) != "22":
                problems.append(f"dropbear listens on port {port.group(1)}, not 22")
            if not re.search(r"\s-\w*R", line) and not any(
                    ctx.view.is_file(f"/etc/dropbear/dropbear_{k}_host_key")
                    for k in ("rsa", "ecdsa", "ed25519")):
                problems.append("dropbear has no host key and is not started with -R")
    if daemon == "openssh":
        conf = ctx.text("/etc/ssh/sshd_config")
        settings = {m.group(1).lower(): m.group(2) for m in re.finditer(
            r"^\s*(\w+)\s+(\S+)", conf, re.MULTILINE)}
        if settings.get("permitrootlogin", "prohibit-password") in ("no", "forced-commands-only"):
            problems.append("sshd_config: PermitRootLogin forbids root logins by key")
        if settings.get("pubkeyauthentication", "yes") == "no":
            problems.append("sshd_config: PubkeyAuthentication no")
        if settings.get("port", "22") != "22":
            problems.append(f"sshd_config: Port {settings['port']}, not 22")
    root = next((ln.split(":") for ln in ctx.text("/etc/passwd").splitlines()
                 if ln.startswith("root:")), None)
    if root is None or len(root) < 7:
        problems.append("/etc/passwd has no root entry")
    else:
        home = root[5]
        if not ctx.view.exists(home):
            problems.append(f"root's home {home} does not exist")
        keys = f"{home.rstrip('/')}/.ssh/authorized_keys"
        evidence.append(f"root logs in by key from {keys} (" +
                        ("present" if ctx.view.exists(keys) else "the server installs it") + ")")
    return _result("ssh.server", problems, evidence)


def check_binaries_arch(ctx: Context) -> CheckResult:
    if ctx.arch is None:
        return _result("binaries.arch", [], [], ["no board arch known (no profile, no "
                                                 "image arch)"])
    problems, evidence = [], []
    for path in ("/bin/busybox", "/sbin/init", *SSHD_PATHS):
        info = ctx.elf(path)
        if info is None:
            continue
        if info.arch != ctx.arch:
            problems.append(f"{path}: {info.describe()}, the board is {ctx.arch}")
        else:
            evidence.append(f"{path}: {info.describe()}")
    image_arch = ctx.view.arch
    if image_arch is not None:
        if OCI_ARCH.get(image_arch) != ctx.arch:
            problems.append(f"image architecture {image_arch!r} is not {ctx.arch}")
        else:
            evidence.append(f"image architecture {image_arch}")
    if not evidence and not problems:
        problems.append("no ELF binary found to check")
    return _result("binaries.arch", problems, evidence)


OPTIONAL = (
    ("optional.lldpd", ("lldpd",), ()),
    ("optional.ptp-ntp", ("ptpd", "ptp4l", "ntpd", "chronyd"), ("ntpd",)),
    ("optional.avahi", ("avahi-daemon",), ()),
    ("optional.walt-node", ("walt-node-setup", "walt-node"), ()),
    ("optional.nbd-swap", ("nbd-client",), ()),
)


def optional_checks(ctx: Context) -> list[CheckResult]:
    """Optional features: pass when present, warn when absent (never mandatory)."""
    out = []
    for name, commands, applets in OPTIONAL:
        hit = next((p for c in commands if (p := ctx.which(c))), None)
        if hit is None:
            hit = next((f"busybox applet {a}" for a in applets if a in ctx.busybox_applets),
                       None)
        out.append(CheckResult(name, PASS if hit else WARN, False,
                               (f"found {hit}",) if hit else (f"absent: {', '.join(commands)}",)))
    for name, paths in (("optional.cpuinfo", ("/etc/cpuinfo",)),
                        ("optional.image-shell", ("/bin/walt-image-shell-start",
                                                  "/bin/walt-image-shell-shutdown"))):
        present = [p for p in paths if ctx.view.exists(p)]
        ok = len(present) == len(paths)
        out.append(CheckResult(name, PASS if ok else WARN, False,
                               tuple(f"{p}: {'present' if p in present else 'absent'}"
                                     for p in paths)))
    return out
