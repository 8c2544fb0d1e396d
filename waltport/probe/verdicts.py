"""Plain-word verdicts from a U-Boot's facts: can this bootloader netboot a WalT node?

*Pure.*  Each verdict has a key, a status (``ok``, ``problem``, ``unknown``)
and one sentence a porter can act on.  The network verdicts name the
evidence (the ``Net:`` line, U-Boot's DHCP time, the TFTP rate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from waltport.probe.facts import BOOT_COMMANDS, TftpResult, UBootFacts
from waltport.profile.detect import DetectError, detect
from waltport.profile.model import Profile, UBootDetect

OK, PROBLEM, UNKNOWN = "ok", "problem", "unknown"
NO_NIC = ("this U-Boot has no driver for the board's network adapter (`No ethernet found`): "
          "a network bootloader is not possible with this U-Boot. Build U-Boot with the "
          "adapter's driver, or use WalT's unmanaged-device mode")


@dataclass(frozen=True)
class Verdict:
    key: str
    status: str
    text: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        mark = {OK: "ok", PROBLEM: "PROBLEM", UNKNOWN: "?"}[self.status]
        return f"[{mark}] {self.text}"


def _rate(bps: float) -> str:
    return f"{bps / 1024 ** 2:.1f} MiB/s" if bps >= 1024 ** 2 else f"{bps / 1024:.0f} KiB/s"


def nic_verdict(f: UBootFacts) -> Verdict:
    if f.has_nic is False:
        return Verdict("nic", PROBLEM, NO_NIC)
    if f.has_nic is None:
        return Verdict("nic", UNKNOWN, "the transcript does not say whether U-Boot has a "
                                       "network device (no `Net:` line, no `net list`)")
    names = ", ".join(f"{d.name} ({d.driver})" for d in f.net_devices) or str(f.net_line)
    d = f.dhcp
    if d is None:
        return Verdict("nic", UNKNOWN, f"U-Boot has a network device ({names}); the network "
                                       "test was not run")
    if d.bound:
        ms = d.uboot_ms
        took = "?" if ms is None else f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
        return Verdict("nic", OK, f"the network adapter works in this U-Boot ({names}; DHCP "
                                  f"answered in {took}, address {d.address})")
    return Verdict("nic", PROBLEM, f"U-Boot has a network device ({names}) but DHCP got no "
                                   f"answer ({d.error or 'no output'}): check the cable, the "
                                   "link LEDs and the bench interface")


def tftp_verdict(f: UBootFacts) -> Verdict | None:
    if not f.tftp:
        return None
    good = [t for t in f.tftp if t.ok and t.honoured is not False]
    if not good:
        last = f.tftp[-1]
        return Verdict("tftp", PROBLEM, f"TFTP failed ({last.error or 'no output'})")
    best = max(good, key=lambda t: t.rate or 0.0)
    text = (f"TFTP works: {best.bytes} bytes at {_rate(best.rate) if best.rate else '?'}"
            f"{_settings(best)}")
    ignored = [f"{k}={v}" for t in f.tftp if t.ok and t.honoured is False
               for k, v in sorted(t.settings.items()) if _wire(t, k) != int(v)]
    if ignored:
        text += (f"; not honoured: {', '.join(dict.fromkeys(ignored))} (the wire showed what "
                 "the bench server used; a block above 1468 bytes needs CONFIG_IP_DEFRAG)")
    return Verdict("tftp", OK, text)


def _wire(t: TftpResult, setting: str) -> int | None:
    return t.wire_blksize if setting == "tftpblocksize" else t.wire_windowsize


def _settings(t: TftpResult) -> str:
    return (" with " + ", ".join(f"{k}={v}" for k, v in sorted(t.settings.items()))
            if t.settings else " with the board's defaults")


def setexpr_verdict(f: UBootFacts) -> Verdict:
    if f.setexpr_sub is None:
        return Verdict("setexpr_sub", UNKNOWN, "`setexpr ... sub` was not tested")
    if f.setexpr_sub:
        return Verdict("setexpr_sub", OK, "`setexpr` has `sub`: detection rules can use "
                                          "regex substitutions")
    return Verdict("setexpr_sub", PROBLEM, "`setexpr` lacks `sub` (no CONFIG_REGEX): "
                                           "detection must use a value table")


def autoboot_verdict(f: UBootFacts) -> Verdict:
    if f.bootdelay is not None and f.bootdelay < 0 and not f.autoboot_prompt:
        return Verdict("autoboot", PROBLEM, f"the autoboot cannot be interrupted (bootdelay "
                                            f"{f.bootdelay})")
    if f.autoboot_prompt:
        return Verdict("autoboot", OK, f"the autoboot can be interrupted (bootdelay "
                                       f"{f.bootdelay if f.bootdelay is not None else '?'})")
    return Verdict("autoboot", UNKNOWN, "no autoboot countdown was seen")


def commands_verdict(f: UBootFacts) -> Verdict:
    if not f.commands:
        return Verdict("commands", UNKNOWN, "`help` was not read")
    need = ("dhcp", "tftpboot", "source")
    missing = [c for c in need if c not in f.commands]
    boots = [c for c in BOOT_COMMANDS if c in f.commands]
    if missing or not boots:
        gone = missing + ([] if boots else ["booti/bootz/bootm"])
        return Verdict("commands", PROBLEM, f"U-Boot lacks {', '.join(gone)}: WalT's first "
                                            "stage needs dhcp, tftpboot, source and a boot "
                                            "command")
    extra = [c for c in ("pxe",) if c in f.commands]
    return Verdict("commands", OK, f"U-Boot has dhcp, tftpboot, source and {', '.join(boots)}"
                                   + (f" (also {', '.join(extra)})" if extra else ""))


def uboot_verdicts(f: UBootFacts) -> tuple[Verdict, ...]:
    """*Pure.* Every verdict on one U-Boot, the network ones first."""
    out = [nic_verdict(f)]
    if (t := tftp_verdict(f)) is not None:
        out.append(t)
    out += [commands_verdict(f), setexpr_verdict(f), autoboot_verdict(f)]
    return tuple(out)


def profile_verdicts(p: Profile, f: UBootFacts) -> tuple[Verdict, ...]:
    """*Pure.* How the porter's profile agrees with what the board said: the model its
    rules select from the board's variable, that model's kernel arch and boot command."""
    out: list[Verdict] = []
    model: str | None = p.all_models[0] if len(p.all_models) == 1 else None
    if isinstance(p.detect, UBootDetect):
        value = f.env.get(p.detect.source)
        if value is None:
            return (Verdict("profile.detect", PROBLEM, f"the profile's rules read "
                                                       f"{p.detect.source}, which this U-Boot "
                                                       "does not set"),)
        try:
            got = detect(p, {p.detect.source: value})
        except DetectError as err:
            return (Verdict("profile.detect", PROBLEM, str(err)),)
        model = got.model if got.known else None
        out.append(Verdict("profile.detect", OK if got.known else PROBLEM,
                           f"the profile's rules select {got.model or '(reset)'} from "
                           f"{p.detect.source}={value!r}"))
    if model is None:
        return tuple(out)
    kernel = p.kernel_arch(model)
    if f.arch is not None and kernel in ("arm", "arm64") and kernel != f.arch:
        out.append(Verdict("profile.arch", PROBLEM, f"the profile boots {model} with an "
                                                    f"{kernel} kernel; this U-Boot is built "
                                                    f"for {f.arch}"))
    command = p.boot_command_of(model) if p.uboot is not None else None
    if command is not None and f.has(command) is False:
        out.append(Verdict("profile.boot_command", PROBLEM, f"the profile boots {model} with "
                                                            f"{command}, which this U-Boot "
                                                            "lacks"))
    return tuple(out)


def bootloader_verdict(p: Profile, seen: str) -> tuple[Verdict, ...]:
    """*Pure.* The porter's profile names another bootloader than the one that answered."""
    if str(p.bootloader) == seen:
        return ()
    return (Verdict("profile.bootloader", PROBLEM, f"the profile says bootloader "
                                                   f"{p.bootloader}; this board answered as "
                                                   f"{seen}"),)
