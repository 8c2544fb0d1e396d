"""What a U-Boot transcript says about the board: typed facts, read from real output.

*Pure.*  Each parser takes the text U-Boot printed for one command
(``version``, ``bdinfo``, ``printenv``, ``help``, ``net list``, ``dhcp``,
``tftpboot``) and returns values; :func:`uboot_facts` assembles them from a
:class:`~waltport.probe.transcript.Transcript`.  Nothing here guesses: a
fact the transcript does not hold stays None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from waltport.net.tftp import TransferRecord
from waltport.probe.transcript import Transcript

BANNER_RE = re.compile(r"^U-Boot (\d{4}\.\d{2}\S*)(?: \((.*)\))?")
NET_LINE_RE = re.compile(r"^Net:\s+(.*)$")
NET_LIST_RE = re.compile(r"^(eth\d+)\s*:\s*(\S+)\s+([0-9a-fA-F:]{17})(?:\s+(\w+))?")
DHCP_BOUND_RE = re.compile(r"DHCP client bound to address (\S+) \((\d+) ms\)")
TFTP_BYTES_RE = re.compile(r"Bytes transferred = (\d+)")
TFTP_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?) (B|KiB|MiB|GiB)/s\s*$")
TFTP_SERVER_RE = re.compile(r"TFTP from server (\S+); our IP address is (\S+)")
HELP_RE = re.compile(r"^(\S+)\s+- ")
NO_ETHERNET = "No ethernet found."
UNIT = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}

# Board variables a first stage can tell sub-models apart by (walt-facts: RPi fdtfile,
# Coral baseboardid), in the order a porter would try them.
DETECTION_VARS = ("fdtfile", "board_name", "board", "baseboardid", "board_rev",
                  "board_revision", "soc", "model", "variant", "cpu", "vendor")
ADDRESS_VARS = ("kernel_addr_r", "fdt_addr_r", "ramdisk_addr_r", "scriptaddr",
                "kernel_comp_addr_r", "loadaddr", "pxefile_addr_r", "fdtcontroladdr")
BOOT_COMMANDS = ("booti", "bootz", "bootm")


@dataclass(frozen=True)
class DhcpResult:
    """One ``dhcp``: bound or not, U-Boot's own time, and the console's."""

    bound: bool
    address: str | None = None
    uboot_ms: int | None = None      # what U-Boot printed "(N ms)"
    seconds: float | None = None     # console time from the command to the prompt
    no_ethernet: bool = False
    error: str | None = None         # the last line U-Boot printed when not bound


@dataclass(frozen=True)
class TftpResult:
    """One ``tftpboot`` with the TFTP variables set for it."""

    settings: dict[str, str]         # tftpblocksize / tftpwindowsize asked for
    ok: bool
    bytes: int | None = None
    rate: float | None = None        # bytes/s as U-Boot printed it
    seconds: float | None = None     # console time from the command to the prompt
    server: str | None = None
    no_ethernet: bool = False
    error: str | None = None
    wire_blksize: int | None = None  # what the bench server's transfer record says was used
    wire_windowsize: int | None = None

    @property
    def honoured(self) -> bool | None:
        """Whether the transfer on the wire used the block and window sizes asked for."""
        if self.wire_blksize is None:
            return None
        wire = {"tftpblocksize": self.wire_blksize, "tftpwindowsize": self.wire_windowsize}
        return all(wire[k] == int(v) for k, v in self.settings.items())


@dataclass(frozen=True)
class NetDevice:
    name: str                        # eth0
    driver: str                      # virtio-net#32, ethernet@7e580000 ...
    mac: str | None = None
    active: bool = False


@dataclass(frozen=True)
class UBootFacts:
    """Everything the probe read from one U-Boot, as values (None: not in the transcript)."""

    version: str | None
    build_bits: int | None                       # bdinfo "Build = 64-bit"
    prompt: str
    autoboot_prompt: bool                        # "Hit any key to stop autoboot" seen
    env: dict[str, str]
    bdinfo: dict[str, str]
    commands: tuple[str, ...]
    setexpr_sub: bool | None                     # None: not tested
    net_line: str | None                         # the banner's "Net:" line
    net_devices: tuple[NetDevice, ...]
    dhcp: DhcpResult | None
    tftp: tuple[TftpResult, ...] = field(default_factory=tuple)

    @property
    def arch(self) -> str | None:
        """The profile arch of this U-Boot build, from printenv's ``arch`` and bdinfo's bits."""
        names = {"arm": {64: "arm64", 32: "arm"}, "x86": {64: "x86_64", 32: "x86"}}
        return names.get(self.env.get("arch", "arm"), {}).get(self.build_bits or 0)

    @property
    def bootdelay(self) -> int | None:
        value = self.env.get("bootdelay")
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    @property
    def has_nic(self) -> bool | None:
        """Whether U-Boot has a network device (None: cannot tell from the transcript)."""
        if self.net_devices:
            return True
        if self.net_line is not None:
            return NO_ETHERNET not in self.net_line
        if self.dhcp is not None and self.dhcp.no_ethernet:
            return False
        return None

    @property
    def detection_candidates(self) -> dict[str, str]:
        """Board variables present, in the order a porter would try them."""
        return {v: self.env[v] for v in DETECTION_VARS if v in self.env}

    @property
    def addresses(self) -> dict[str, str]:
        return {v: self.env[v] for v in ADDRESS_VARS if v in self.env}

    def highlights(self) -> dict[str, object]:
        """What a porter looks at first, by name (printed by the CLI, shown by the notebook)."""
        out: dict[str, object] = {
            "arch": self.arch, "network": self.net_line, "setexpr sub": self.setexpr_sub,
            "bootdelay": self.bootdelay, "bootcmd": self.env.get("bootcmd"),
            **self.detection_candidates, **self.addresses}
        for i, t in enumerate(self.tftp):
            asked = " ".join(f"{k}={v}" for k, v in t.settings.items()) or "defaults"
            out[f"tftp {i + 1} {asked}"] = (
                f"{t.bytes} B at {(t.rate or 0) / 2 ** 20:.1f} MiB/s, wire blksize "
                f"{t.wire_blksize} window {t.wire_windowsize}" if t.ok else t.error)
        return out

    def has(self, command: str) -> bool | None:
        return (command in self.commands) if self.commands else None

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["tftp"] = [{**asdict(t), "honoured": t.honoured} for t in self.tftp]
        out.update(arch=self.arch, bootdelay=self.bootdelay, has_nic=self.has_nic,
                   detection_candidates=self.detection_candidates, addresses=self.addresses)
        return out


def parse_version(text: str) -> str | None:
    """The U-Boot version string of a banner or of ``version``."""
    for line in text.splitlines():
        m = BANNER_RE.match(line.strip())
        if m:
            return line.strip()
    return None


def parse_keyvalues(text: str, sep: str) -> dict[str, str]:
    """``key<sep>value`` lines (printenv: ``=``; bdinfo: `` = ``), first occurrence wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        key = key.strip()
        if found and key and " " not in key and key not in out:
            out[key] = value.strip() if sep != "=" else value
    return out


def parse_env(text: str) -> dict[str, str]:
    """``printenv`` output -> variables (the trailing "Environment size" line is not one)."""
    return {k: v for k, v in parse_keyvalues(text, "=").items()
            if re.fullmatch(r"[A-Za-z0-9_#.:-]+", k)}


def parse_bdinfo(text: str) -> dict[str, str]:
    return {k: v.strip() for k, v in parse_keyvalues(text, "=").items()}


def build_bits(bdinfo: dict[str, str]) -> int | None:
    m = re.match(r"(\d+)-bit", bdinfo.get("Build", ""))
    return int(m.group(1)) if m else None


def parse_help(text: str) -> tuple[str, ...]:
    """The command names ``help`` lists."""
    return tuple(sorted({m.group(1) for line in text.splitlines()
                         if (m := HELP_RE.match(line))}))


def parse_setexpr_sub(help_text: str | None, printed: str | None) -> bool | None:
    """Whether ``setexpr ... sub`` works: its help names it and a trial substitution printed
    the substituted value (``probe_sub=bbc``)."""
    if printed is not None:
        return "probe_sub=bbc" in printed.splitlines()
    if help_text is not None:
        return "setexpr name sub" in help_text
    return None


def parse_net_line(boot: tuple[str, ...]) -> str | None:
    for line in boot:
        m = NET_LINE_RE.match(line.strip())
        if m:
            return m.group(1).strip()
    return None


def parse_net_list(text: str) -> tuple[NetDevice, ...]:
    return tuple(NetDevice(m.group(1), m.group(2), m.group(3).lower(), m.group(4) == "active")
                 for line in text.splitlines() if (m := NET_LIST_RE.match(line.strip())))


def net_line_devices(net_line: str | None) -> tuple[NetDevice, ...]:
    """Devices of a banner ``Net:`` line (``eth0: virtio-net#32, eth1: ...``)."""
    if not net_line or NO_ETHERNET in net_line:
        return ()
    found = re.findall(r"(eth\d+):\s*([^,\s]+)", net_line)
    return tuple(NetDevice(name, driver) for name, driver in found)


def _last_line(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def parse_dhcp(text: str, seconds: float | None = None) -> DhcpResult:
    m = DHCP_BOUND_RE.search(text)
    if m:
        return DhcpResult(True, m.group(1), int(m.group(2)), seconds)
    return DhcpResult(False, seconds=seconds, no_ethernet=NO_ETHERNET in text,
                      error=_last_line(text))


def parse_tftp(text: str, settings: dict[str, str], seconds: float | None = None) -> TftpResult:
    done = TFTP_BYTES_RE.search(text)
    rate = next((float(m.group(1)) * UNIT[m.group(2)] for line in text.splitlines()
                 if (m := TFTP_RATE_RE.match(line))), None)
    server = TFTP_SERVER_RE.search(text)
    return TftpResult(dict(settings), done is not None,
                      int(done.group(1)) if done else None, rate, seconds,
                      server.group(1) if server else None, NO_ETHERNET in text,
                      None if done else _last_line(text))


def with_wire(facts: UBootFacts, records: Sequence[TransferRecord], name: str) -> UBootFacts:
    """``facts`` with each completed ``tftpboot`` of file ``name`` paired, in order, with the
    bench server's record of it (block and window sizes used on the wire)."""
    done = iter(r for r in records if r.requested.lstrip("/") == name and r.result == "ok")
    paired = []
    for t in facts.tftp:
        r = next(done, None) if t.ok else None
        paired.append(replace(t, wire_blksize=r.blksize, wire_windowsize=r.windowsize)
                      if r is not None else t)
    return replace(facts, tftp=tuple(paired))


def tftp_settings(command: str) -> dict[str, str]:
    """The ``setenv tftp*`` assignments typed on the same line before a ``tftpboot``."""
    return dict(re.findall(r"setenv (tftp(?:blocksize|windowsize)) (\d+)", command))


def uboot_facts(t: Transcript) -> UBootFacts:
    """*Pure.* The facts of one U-Boot session transcript."""
    boot_text = "\n".join(t.boot)
    env = parse_env(t.output_of("printenv") or "")
    bdinfo = parse_bdinfo(t.output_of("bdinfo") or "")
    version = parse_version(t.output_of("version") or "") or parse_version(boot_text)
    net_line = parse_net_line(t.boot)
    listed = parse_net_list(t.output_of("net list") or "")
    dhcp = next((parse_dhcp(ex.text, ex.done - ex.sent) for ex in reversed(t.exchanges)
                 if ex.command.split(";")[-1].strip() == "dhcp"), None)
    tftp = tuple(parse_tftp(ex.text, tftp_settings(ex.command), ex.done - ex.sent)
                 for ex in t.exchanges if "tftpboot" in ex.command)
    sub_try = next((ex.text for ex in t.exchanges if ex.command.startswith("setexpr probe_sub")),
                   None)
    return UBootFacts(
        version=version, build_bits=build_bits(bdinfo), prompt=t.prompt,
        autoboot_prompt="Hit any key to stop autoboot" in boot_text, env=env, bdinfo=bdinfo,
        commands=parse_help(t.output_of("help") or ""),
        setexpr_sub=parse_setexpr_sub(t.output_of("help setexpr"), sub_try),
        net_line=net_line, net_devices=listed or net_line_devices(net_line), dhcp=dhcp,
        tftp=tftp)
