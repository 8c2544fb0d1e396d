"""Edge: a dialogue with a bootloader on a console — catch the prompt, type, read back.

:class:`Dialogue` wraps any console that logs lines and can be typed on (a
serial port, QEMU's stdio).  It waits for the countdown of any bootloader it
knows (U-Boot's "Hit any key to stop autoboot", iPXE's "Press Ctrl-B for
the iPXE command line"), types that one's stop key, learns the prompt from
what is printed next, then runs one command at a time: the answer is every
line between the command's echo and the next prompt.  A command that does
not give the prompt back in time gets Ctrl-C (U-Boot's network loop and
iPXE both stop on it) and is recorded as incomplete; a probe never waits
forever.  iPXE on a PC reads the serial line through the BIOS, whose
keyboard buffer holds 15 keys and is filled once per timer tick: there keys
are typed a few at a time, each group once the previous one was echoed.
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass
from typing import Protocol

from waltport.errors import WaltportError
from waltport.lab.target.console import ConsoleTimeout, Line
from waltport.probe.transcript import Exchange, visible

# U-Boot's default countdown text (CONFIG_AUTOBOOT_PROMPT) and "any key".
UBOOT_AUTOBOOT = r"Hit any key to stop autoboot"
UBOOT_STOP = " "
# iPXE's shell banner (the ROM's own "Press Ctrl-B to configure" opens a setup screen).
IPXE_BANNER = r"Press Ctrl-B for the iPXE command line"
IPXE_STOP = "\x02"
ECHO_WAIT = 0.5
KEY_GROUP = 6       # keys typed before waiting for their echo (well under the BIOS's 15)
# A prompt is a short last line ending in "> " or "# " with nothing typed after it.
PROMPT_RE = re.compile(r"^(\S.{0,30}?[>#] )$")
# Seen when the countdown was missed or cannot be interrupted: the board boots on.
BOOTED_ON_RE = re.compile(r"BOOTP broadcast|DHCP client bound|## Executing script|"
                          r"Starting kernel|Scanning .* for bootable|Found U-Boot script")
# Commands that write the board's stored environment: the probe never types them.
WRITES_STORED_ENV = re.compile(r"\b(saveenv|eraseenv|env\s+(save|erase))\b")
POLL = 0.02
CTRL_C = "\x03"


class ProbeError(WaltportError):
    """The probe could not talk to the bootloader (no prompt, console gone)."""

    exit_code = 2

    def __init__(self, message: str, tail: list[str] | None = None) -> None:
        self.tail = tuple(tail or ())
        lines = [message]
        if tail is not None:
            lines.append("last console lines:")
            lines += [f"  | {ln}" for ln in tail] or ["  | (nothing)"]
        super().__init__("\n".join(lines))


class TypedConsole(Protocol):
    """What the dialogue needs of a console: its lines, its clock, and a keyboard."""

    def snapshot(self) -> tuple[list[Line], str]: ...

    def tail(self, n: int = 15) -> list[str]: ...

    def expect(self, pattern: str, timeout: float, what: str | None = None) \
            -> tuple[float, str]: ...

    def now(self) -> float: ...

    def send(self, text: str) -> None: ...


@dataclass(frozen=True)
class StopKeys:
    """How to stop one bootloader's autoboot: its countdown (regex) and what to type."""

    bootloader: str = "uboot"
    countdown: str = UBOOT_AUTOBOOT
    stop: str = UBOOT_STOP
    key_by_key: bool = False       # wait for each key's echo before the next


def porter_keys(countdown: str, stop: str) -> StopKeys:
    """U-Boot stop keys from the porter's ``--countdown`` regex and ``--stop`` text
    (backslash escapes such as ``\\x1b`` allowed), checked before anything is
    powered: a clear error naming the option, never a traceback mid-probe. *Pure.*"""
    try:
        re.compile(countdown)
    except re.error as err:
        raise ProbeError(f"--countdown {countdown!r}: not a regular expression: {err}") from err
    if not stop.isascii():
        raise ProbeError(f"--stop {stop!r}: ASCII only (write other bytes as \\xNN)")
    try:
        keys = codecs.decode(stop, "unicode_escape")
    except UnicodeDecodeError as err:
        raise ProbeError(f"--stop {stop!r}: bad escape: {err.reason}") from err
    if not keys:
        raise ProbeError("--stop: empty (U-Boot's default is a space)")
    if WRITES_STORED_ENV.search(keys):
        raise ProbeError(f"--stop {stop!r}: would write the board's stored environment")
    return StopKeys(countdown=countdown, stop=keys)


IPXE_KEYS = StopKeys("ipxe", IPXE_BANNER, IPXE_STOP, key_by_key=True)


class Dialogue:
    """Commands typed at a bootloader prompt on ``console``, each recorded as an Exchange."""

    def __init__(self, console: TypedConsole) -> None:
        self.console = console
        self.prompt = ""
        self.keys = StopKeys()
        self.exchanges: list[Exchange] = []

    def catch_prompt(self, choices: tuple[StopKeys, ...], timeout: float) -> StopKeys:
        """Wait for a countdown of ``choices``, type its stop key, learn the prompt; which."""
        either = "|".join(f"(?:{k.countdown})" for k in choices)
        try:
            _, text = self.console.expect(either, timeout, "bootloader countdown")
        except ConsoleTimeout as err:
            raise self._no_countdown(choices, timeout) from err
        self.keys = next(k for k in choices if re.search(k.countdown, text))
        self.console.send(self.keys.stop)
        deadline = time.monotonic() + 10.0
        nudged = False
        while time.monotonic() < deadline:
            partial = visible(self.console.snapshot()[1])
            if PROMPT_RE.match(partial):
                self.prompt = partial
                return self.keys
            if not nudged and time.monotonic() > deadline - 5.0:
                self.console.send("\n")      # some builds print the prompt only on a key
                nudged = True
            time.sleep(POLL)
        raise ProbeError(f"typed {self.keys.stop!r} at the countdown but no prompt came back "
                         "within 10 s", self.console.tail())

    def _no_countdown(self, choices: tuple[StopKeys, ...], timeout: float) -> ProbeError:
        lines, partial = self.console.snapshot()
        texts = [ln.text for ln in lines] + [partial]
        wanted = " or ".join(repr(k.countdown) for k in choices)
        if any(BOOTED_ON_RE.search(t) for t in texts):
            return ProbeError(f"the board booted on without a countdown matching {wanted}: "
                              "the autoboot cannot be interrupted (bootdelay -2, or a "
                              "different stop prompt: give --countdown)", self.console.tail())
        return ProbeError(f"no bootloader prompt: no countdown matching {wanted} on the "
                          f"console within {timeout:.0f} s", self.console.tail())

    def _type(self, command: str) -> None:
        if not self.keys.key_by_key:
            self.console.send(command + "\n")
            return
        for i in range(0, len(command), KEY_GROUP):
            group = command[i:i + KEY_GROUP]
            self.console.send(group)
            deadline = time.monotonic() + ECHO_WAIT
            while not visible(self.console.snapshot()[1]).endswith(group) and \
                    time.monotonic() < deadline:
                time.sleep(POLL / 4)
        self.console.send("\n")

    def run(self, command: str, timeout: float) -> Exchange:
        """Type ``command``; its output once the prompt is back (Ctrl-C after ``timeout``)."""
        if WRITES_STORED_ENV.search(command):
            raise ProbeError(f"refusing to type {command!r}: the probe never changes the "
                             "board's stored environment")
        start = len(self.console.snapshot()[0])
        self._type(command)
        sent = self.console.now()        # the command line is complete: its time starts
        lines, partial, ok = self._wait_prompt(start, timeout)
        if not ok:
            self.console.send(CTRL_C)
            lines, partial, _ = self._wait_prompt(start, 5.0)
        # lines[start] is the echo ("=> version"); a prompt after output with no newline
        # leaves that output at the front of the last line.
        out = [visible(ln.text) for ln in lines[start + 1:]]
        rest = partial[:-len(self.prompt)] if partial.endswith(self.prompt) else partial
        if rest:
            out.append(rest)
        ex = Exchange(command, tuple(out), sent, self.console.now(), complete=ok)
        self.exchanges.append(ex)
        return ex

    def _wait_prompt(self, start: int, timeout: float) -> tuple[list[Line], str, bool]:
        deadline = time.monotonic() + timeout
        while True:
            lines, partial = self.console.snapshot()
            partial = visible(partial)
            if len(lines) > start and partial.endswith(self.prompt):
                return lines, partial, True
            if time.monotonic() > deadline:
                return lines, partial, False
            time.sleep(POLL)
