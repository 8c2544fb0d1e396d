"""Edge: a dialogue with a bootloader on a console — catch the prompt, type, read back.

:class:`Dialogue` wraps any console that logs lines and can be typed on (a
serial port, QEMU's stdio).  It stops the autoboot (sends the stop string
when the countdown shows), learns the prompt from what is printed next,
then runs one command at a time: the answer is every line between the
command's echo and the next prompt.  A command that does not give the
prompt back in time gets Ctrl-C (U-Boot's network loop and iPXE both stop on
it) and is recorded as incomplete; a probe never waits forever.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

from waltport.errors import WaltportError
from waltport.lab.target.console import ConsoleTimeout, Line
from waltport.probe.transcript import Exchange

# U-Boot's default countdown text (CONFIG_AUTOBOOT_PROMPT) and "any key".
UBOOT_AUTOBOOT = r"Hit any key to stop autoboot"
UBOOT_STOP = " "
# A prompt is a short last line ending in "> " or "# " with nothing typed after it.
PROMPT_RE = re.compile(r"^(\S.{0,30}?[>#] )$")
# Seen when the countdown was missed or cannot be interrupted: the board boots on.
BOOTED_ON_RE = re.compile(r"BOOTP broadcast|DHCP client bound|## Executing script|"
                          r"Starting kernel|Scanning .* for bootable|Found U-Boot script")
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
    """How to stop the autoboot: the countdown text (regex) and what to type."""

    countdown: str = UBOOT_AUTOBOOT
    stop: str = UBOOT_STOP


class Dialogue:
    """Commands typed at a bootloader prompt on ``console``, each recorded as an Exchange."""

    def __init__(self, console: TypedConsole) -> None:
        self.console = console
        self.prompt = ""
        self.exchanges: list[Exchange] = []

    def catch_prompt(self, keys: StopKeys, timeout: float) -> str:
        """Wait for the countdown, type the stop string, learn the prompt; the prompt."""
        try:
            self.console.expect(keys.countdown, timeout, "autoboot countdown")
        except ConsoleTimeout as err:
            raise self._no_countdown(keys, timeout) from err
        self.console.send(keys.stop)
        deadline = time.monotonic() + 10.0
        nudged = False
        while time.monotonic() < deadline:
            _, partial = self.console.snapshot()
            if PROMPT_RE.match(partial):
                self.prompt = partial
                return partial
            if not nudged and time.monotonic() > deadline - 5.0:
                self.console.send("\n")      # some builds print the prompt only on a key
                nudged = True
            time.sleep(POLL)
        raise ProbeError(f"typed {keys.stop!r} at the countdown but no prompt came back "
                         "within 10 s", self.console.tail())

    def _no_countdown(self, keys: StopKeys, timeout: float) -> ProbeError:
        lines, partial = self.console.snapshot()
        texts = [ln.text for ln in lines] + [partial]
        if any(BOOTED_ON_RE.search(t) for t in texts):
            return ProbeError(f"the board booted on without a countdown matching "
                              f"{keys.countdown!r}: the autoboot cannot be interrupted "
                              "(bootdelay -2, or a different stop prompt: give --countdown)",
                              self.console.tail())
        return ProbeError(f"no bootloader prompt: no countdown matching {keys.countdown!r} "
                          f"on the console within {timeout:.0f} s", self.console.tail())

    def run(self, command: str, timeout: float) -> Exchange:
        """Type ``command``; its output once the prompt is back (Ctrl-C after ``timeout``)."""
        start = len(self.console.snapshot()[0])
        sent = self.console.now()
        self.console.send(command + "\n")
        lines, partial, ok = self._wait_prompt(start, timeout)
        if not ok:
            self.console.send(CTRL_C)
            lines, partial, _ = self._wait_prompt(start, 5.0)
        # lines[start] is the echo ("=> version"); a prompt after output with no newline
        # leaves that output at the front of the last line.
        out = [ln.text for ln in lines[start + 1:]]
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
            if len(lines) > start and partial.endswith(self.prompt):
                return lines, partial, True
            if time.monotonic() > deadline:
                return lines, partial, False
            time.sleep(POLL)
