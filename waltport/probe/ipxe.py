"""What an iPXE transcript says about a PC, its verdicts and its draft profile.

*Pure.*  iPXE's answers: ``ifstat`` (network devices), ``show`` (settings
as ``scope/name:type = value``), ``cpuid --ext 29`` (long mode: a 64-bit
CPU), ``ifconf -c dhcp`` and ``chain`` of a probe script from the bench
server (the whole path WalT's first stage takes).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from waltport.probe.draft import Draft, Fill
from waltport.probe.facts import NetDevice
from waltport.probe.transcript import Transcript
from waltport.probe.verdicts import OK, PROBLEM, UNKNOWN, Verdict

IPXE_BANNER_RE = re.compile(r"^iPXE (\d\S*) -- ")
IFSTAT_RE = re.compile(r"^(net\d+): ([0-9a-f:]{17}) using (\S+) on (\S+)")
SHOW_RE = re.compile(r"^(\S+?)/?([\w.-]+):(\w+) = (.*)$")
CONFIGURED_RE = re.compile(r"^Configuring .*\.\.\.\s*(ok|.*)$")
CHAIN_MARK = "probe script ran:"
CPU_64, CPU_32 = "cpu-64bit", "cpu-32bit"
CPUID_COMMAND = f"cpuid --ext 29 && echo {CPU_64} || echo {CPU_32}"


@dataclass(frozen=True)
class IpxeFacts:
    version: str | None
    features: str | None
    prompt: str
    commands: tuple[str, ...]
    net_devices: tuple[NetDevice, ...]
    settings: dict[str, str]            # shown settings by name (net0/ip -> "10.0.2.15")
    cpu_64bit: bool | None              # cpuid --ext 29 (long mode)
    dhcp_ok: bool | None
    dhcp_seconds: float | None
    dhcp_error: str | None
    chain_ok: bool | None
    chain_output: tuple[str, ...]

    @property
    def arch(self) -> str | None:
        return None if self.cpu_64bit is None else "x86_64" if self.cpu_64bit else "x86"

    def highlights(self) -> dict[str, object]:
        """What a porter looks at first, by name (printed by the CLI, shown by the notebook)."""
        return {"arch": self.arch, "cpu long mode": self.cpu_64bit,
                "network": ", ".join(f"{d.name}: {d.driver} {d.mac}" for d in self.net_devices),
                **self.settings, "dhcp": self.dhcp_ok, "chain": self.chain_ok}

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "arch": self.arch}


def parse_ifstat(text: str) -> tuple[NetDevice, ...]:
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = IFSTAT_RE.match(line.strip())
        if m:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            out.append(NetDevice(m.group(1), m.group(3), m.group(2), "Link:up" in nxt))
    return tuple(out)


def parse_show(text: str) -> tuple[str, str] | None:
    """``net0.dhcp/ip:ipv4 = 10.0.2.15`` -> ("ip", "10.0.2.15"); None when not set."""
    for line in text.splitlines():
        m = SHOW_RE.match(line.strip())
        if m:
            return m.group(2), m.group(4)
    return None


def parse_help(text: str) -> tuple[str, ...]:
    """iPXE's help: command names in columns after "Available commands:"."""
    body = text.split("Available commands:", 1)[-1].split("Type ", 1)[0]
    return tuple(sorted(set(body.split())))


def ipxe_facts(t: Transcript) -> IpxeFacts:
    """*Pure.* The facts of one iPXE session transcript."""
    version = next((f"iPXE {m.group(1)}" for ln in t.boot
                    if (m := IPXE_BANNER_RE.match(ln.strip()))), None)
    features = next((ln.split(":", 1)[1].strip() for ln in t.boot
                     if ln.startswith("Features:")), None)
    settings: dict[str, str] = {}
    for ex in t.starting("show "):
        got = parse_show(ex.text)
        if got is not None:
            settings[ex.command.split(" ", 1)[1].rsplit("/", 1)[-1]] = got[1]
    cpu = t.output_of(CPUID_COMMAND)
    conf = next((ex for ex in t.exchanges if ex.command.startswith(("ifconf", "dhcp"))), None)
    conf_line = next((m.group(1) for ln in (conf.output if conf else ())
                      if (m := CONFIGURED_RE.match(ln.strip()))), None)
    chain = next((ex for ex in t.exchanges if ex.command.startswith("chain ")), None)
    return IpxeFacts(
        version=version, features=features, prompt=t.prompt,
        commands=parse_help(t.output_of("help") or ""),
        net_devices=parse_ifstat(t.output_of("ifstat") or ""), settings=settings,
        cpu_64bit=None if cpu is None else CPU_64 in cpu.splitlines(),
        dhcp_ok=None if conf is None else conf_line == "ok",
        dhcp_seconds=None if conf is None else conf.done - conf.sent,
        dhcp_error=None if conf is None or conf_line == "ok" else (conf.text.strip() or None),
        chain_ok=None if chain is None else any(CHAIN_MARK in ln for ln in chain.output),
        chain_output=chain.output if chain else ())


def ipxe_verdicts(f: IpxeFacts) -> tuple[Verdict, ...]:
    """*Pure.* Can this iPXE netboot a WalT node: NIC, DHCP, TFTP chain, cpuid."""
    out = []
    names = ", ".join(f"{d.name} ({d.driver})" for d in f.net_devices)
    if not f.net_devices:
        out.append(Verdict("nic", PROBLEM, "iPXE lists no network device (`ifstat` is empty): "
                                           "this iPXE has no driver for the PC's adapter"))
    elif f.dhcp_ok:
        out.append(Verdict("nic", OK, f"the network adapter works in this iPXE ({names}; DHCP "
                                      f"answered in {f.dhcp_seconds or 0:.1f} s, address "
                                      f"{f.settings.get('ip')})"))
    elif f.dhcp_ok is None:
        out.append(Verdict("nic", UNKNOWN, f"iPXE has {names}; the network test was not run"))
    else:
        out.append(Verdict("nic", PROBLEM, f"iPXE has {names} but DHCP failed "
                                           f"({f.dhcp_error}): check the cable"))
    if f.chain_ok is not None:
        out.append(Verdict("chain", OK if f.chain_ok else PROBLEM,
                           "a script chained by TFTP from the bench server ran (WalT's first "
                           "stage does the same)" if f.chain_ok else
                           "chaining a script by TFTP failed: "
                           + (" ".join(f.chain_output).strip() or "no output")))
    if f.cpu_64bit is not None:
        out.append(Verdict("cpuid", OK, "cpuid --ext 29: the CPU has long mode, a pc-x86-64 "
                                        "kernel fits" if f.cpu_64bit else
                                        "cpuid --ext 29: no long mode, a 32-bit (x86) PC"))
    missing = [c for c in ("chain", "cpuid", "set", "show") if f.commands and c not in f.commands]
    if missing:
        out.append(Verdict("commands", PROBLEM, f"iPXE lacks {', '.join(missing)}"))
    return tuple(out)


def ipxe_draft(f: IpxeFacts, name: str) -> Draft:
    """*Pure.* A draft profile for the PC behind ``f``."""
    must: list[Fill] = []
    review: list[Fill] = []
    data: dict[str, Any] = {"name": name,
                            "description": f"drafted by waltport probe from {f.version or 'iPXE'}"}
    if f.arch:
        data["arch"] = f.arch
    else:
        must.append(Fill("arch", "cpuid was not read: x86_64 (long mode) or x86"))
    data.update(bootloader="ipxe", dhcp_identifier="uci", model=name)
    review.append(Fill("model", f"one kind of node named {name!r}; a family of 64- and 32-bit "
                                "PCs uses detect: {method: ipxe-cpuid, if_64bit, otherwise}"))
    maker, product = f.settings.get("manufacturer"), f.settings.get("product")
    data["ipxe"] = {"submodel_from_smbios": True}
    review.append(Fill("ipxe.submodel_from_smbios", f"WalT's script names the sub-model "
                                                    f"${{manufacturer}}/${{product}}: here "
                                                    f"{maker!r}/{product!r}"))
    data["kernel"] = {"console": "ttyS0,115200"}
    review.append(Fill("kernel.console", "the probe talked to iPXE on the PC's first serial "
                                         "port: ttyS0 at 115200 assumed"))
    data["second_stage"] = {"kernel": "kernel", "dtb": None, "initrd": "initrd"}
    return Draft(data, tuple(must), tuple(review))
