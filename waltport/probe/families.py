"""The bootloader families the probe knows, as a registry: how to stop each, what to ask,
how to test its network, and the pure functions that read the answers.

Adding a family is adding a :class:`Family` here; :mod:`waltport.probe.run`
never asks which one it has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from waltport.net.tftp import TransferRecord
from waltport.probe.draft import Draft, draft_profile
from waltport.probe.facts import UBootFacts, parse_env, uboot_facts, with_wire
from waltport.probe.ipxe import CPUID_COMMAND, IpxeFacts, ipxe_draft, ipxe_facts, ipxe_verdicts
from waltport.probe.session import IPXE_KEYS, Dialogue, StopKeys
from waltport.probe.transcript import Transcript
from waltport.probe.verdicts import (
    Verdict,
    bootloader_verdict,
    profile_verdicts,
    uboot_verdicts,
)
from waltport.profile.model import Profile
from waltport.walt import WALT_PREFIX

PROBE_MODEL = "probe"                # walt.node.probe: the bench server serves boot/probe/
PROBE_FILE = "probe.bin"
PROBE_BYTES = 4 << 20
PROBE_SCRIPT = "probe.ipxe"
PROBE_SCRIPT_TEXT = "#!ipxe\necho probe script ran: ${buildarch} ${platform}\n"
NOT_SERVED = {"ran": False, "why_not": "passive link: the probe sends nothing on it"}

UBOOT_READ = ("version", "bdinfo", "printenv", "help", "help setexpr",
              # A RAM variable only: shows whether setexpr has `sub` (CONFIG_REGEX).
              'setexpr probe_sub sub "^a" "b" "abc"; printenv probe_sub',
              "net list")
UBOOT_DHCP = f"setenv autoload no; setenv bootp_vci {WALT_PREFIX}{PROBE_MODEL}; dhcp"
# Tried in order: the board's defaults, a window of 16 at Ethernet's largest unfragmented
# block, then a block that needs IP fragment reassembly (CONFIG_IP_DEFRAG).
TFTP_TRIES: tuple[dict[str, str], ...] = (
    {}, {"tftpblocksize": "1468", "tftpwindowsize": "16"},
    {"tftpblocksize": "4096", "tftpwindowsize": "16"})
IPXE_READ = ("help", "ifstat", "show platform", "show buildarch", "show manufacturer",
             "show product", "show net0/chip", "show net0/mac", CPUID_COMMAND)

Facts = UBootFacts | IpxeFacts


def probe_file_bytes() -> bytes:
    """The probe file: fixed, incompressible bytes (a link that compresses cannot cheat)."""
    return hashlib.shake_256(b"waltport probe").digest(PROBE_BYTES)


def tftp_command(settings: dict[str, str], env: dict[str, str]) -> str:
    """*Pure.* One ``tftpboot`` of the probe file with ``settings``, into a RAM load area."""
    addr = next((f"${{{v}}} " for v in ("kernel_addr_r", "loadaddr") if v in env), "")
    sets = "".join(f"setenv {k} {v}; " for k, v in settings.items())
    return f"{sets}tftpboot {addr}{PROBE_FILE}"


def uboot_dialogue(d: Dialogue, timeout: float, serves: bool) -> dict[str, object]:
    """Read-only queries, then DHCP and three TFTP transfers; what the network test did."""
    for command in UBOOT_READ:
        d.run(command, timeout)
    if not serves:
        return dict(NOT_SERVED)
    if "DHCP client bound" not in d.run(UBOOT_DHCP, timeout).text:
        return {"ran": True, "why_not": "no DHCP lease: TFTP not tried"}
    env = parse_env(next((e.text for e in d.exchanges if e.command == "printenv"), ""))
    for settings in TFTP_TRIES:
        d.run(tftp_command(settings, env), timeout)
    return {"ran": True}


def ipxe_dialogue(d: Dialogue, timeout: float, serves: bool) -> dict[str, object]:
    """Read-only queries, then DHCP as walt.node.probe and a chained probe script."""
    for command in IPXE_READ:
        d.run(command, timeout)
    if not serves:
        return dict(NOT_SERVED)
    d.run(f"set user-class {WALT_PREFIX}{PROBE_MODEL}", timeout)
    if not d.run("ifconf -c dhcp net0", timeout).text.rstrip().endswith("ok"):
        return {"ran": True, "why_not": "no DHCP lease: chain not tried"}
    for command in ("show net0/ip", "show next-server"):
        d.run(command, timeout)
    d.run(f"chain tftp://${{next-server}}/{PROBE_SCRIPT}", timeout)
    return {"ran": True}


def _uboot_facts(t: Transcript, records: Sequence[TransferRecord]) -> Facts:
    return with_wire(uboot_facts(t), records, PROBE_FILE)


def _uboot_verdicts(f: Any, p: Profile | None) -> tuple[Verdict, ...]:
    if p is None:
        return uboot_verdicts(f)
    mismatch = bootloader_verdict(p, "uboot")
    return uboot_verdicts(f) + (mismatch or profile_verdicts(p, f))


def _ipxe_verdicts(f: Any, p: Profile | None) -> tuple[Verdict, ...]:
    return ipxe_verdicts(f) + (bootloader_verdict(p, "ipxe") if p is not None else ())


@dataclass(frozen=True)
class Family:
    keys: StopKeys
    dialogue: Callable[[Dialogue, float, bool], dict[str, object]]
    facts: Callable[[Transcript, Sequence[TransferRecord]], Facts]
    verdicts: Callable[[Any, Profile | None], tuple[Verdict, ...]]
    draft: Callable[[Any, str], Draft]


def families(uboot_keys: StopKeys | None = None) -> dict[str, Family]:
    """The registry, U-Boot's stop keys as given (``--countdown``, ``--stop``)."""
    return {
        "uboot": Family(uboot_keys or StopKeys(), uboot_dialogue, _uboot_facts,
                        _uboot_verdicts, draft_profile),
        "ipxe": Family(IPXE_KEYS, ipxe_dialogue, lambda t, _r: ipxe_facts(t),
                       _ipxe_verdicts, ipxe_draft),
    }
