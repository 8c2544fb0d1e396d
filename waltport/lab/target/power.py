"""Power implementations for a real board: shell commands, a porter, or none.

``command``: the bench file's ``on``/``off`` (and optional ``cycle``) shell
commands, e.g. ``uhubctl -l 1-1 -p 2 -a on`` for a board powered from a USB
hub port, a relay CLI, ``snmpset`` on a PoE switch.  A command that exits
non-zero is an error naming the command and its output.  ``manual``: the
porter switches the board and confirms (Enter on the terminal, or in the
notebook's input box).  ``none``: the porter powers the board
whenever they like; the boot is watched from when waltport starts listening.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from waltport.errors import WaltportError

COMMAND_TIMEOUT = 60.0


class PowerError(WaltportError):
    """A power command failed, or the board cannot be powered in this setting."""

    exit_code = 4


def run_power_command(what: str, command: str, timeout: float = COMMAND_TIMEOUT) -> None:
    """Run one power shell command; PowerError with its output when it fails."""
    try:
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                              check=False, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise PowerError(f"power {what}: `{command}` did not finish in {timeout:.0f} s") from err
    if done.returncode != 0:
        out = (done.stderr.strip() or done.stdout.strip())[-300:]
        raise PowerError(f"power {what}: `{command}` exited with {done.returncode}"
                         + (f": {out}" if out else ""))


@dataclass
class CommandPower:
    """Shell commands that switch the board (``cycle``: used instead of off+on)."""

    on_command: str
    off_command: str
    cycle_command: str | None = None
    kind: str = "command"
    _is_on: bool = False

    def on(self) -> None:
        self._is_on = True       # a failed "on" may have half-started it: off() still runs
        run_power_command("on", self.on_command)

    def off(self) -> None:
        if self._is_on:
            self._is_on = False
            run_power_command("off", self.off_command)

    def cycle(self) -> None:
        if self.cycle_command:
            self._is_on = True
            run_power_command("cycle", self.cycle_command)
        else:
            self.off()
            self.on()

    def alive(self) -> bool | None:
        return None


def ask_porter(message: str) -> None:
    """Ask the porter and wait for Enter: on the terminal, or in a notebook's input box.

    JupyterLab shows ``input()`` as a text box under the cell; a batch run
    (papermill, no terminal) has nobody to ask.
    """
    try:
        input(message)
    except (EOFError, OSError, RuntimeError) as err:   # IPython's StdinNotImplementedError too
        raise PowerError("power: manual needs someone to confirm (no terminal or notebook "
                         "input here); give the bench file power commands instead") from err


@dataclass
class ManualPower:
    """The porter switches the board; ``ask`` shows the message and waits for them."""

    ask: Callable[[str], None] = ask_porter
    kind: str = "manual"
    _is_on: bool = False

    def on(self) -> None:
        self.ask("Switch the board ON now, then press Enter: ")
        self._is_on = True

    def off(self) -> None:
        if self._is_on:
            self._is_on = False
            print("waltport: you may switch the board off now", file=sys.stderr)

    def alive(self) -> bool | None:
        return None


@dataclass
class NoPower:
    """No way to power the board: it is watched from now on."""

    kind: str = "none"

    def on(self) -> None:
        return None

    def off(self) -> None:
        return None

    def alive(self) -> bool | None:
        return None
