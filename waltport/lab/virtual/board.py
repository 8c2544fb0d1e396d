"""The virtual board's power and console: one QEMU process (``-serial stdio``).

Power on starts QEMU, power off ends it; its stdio is the serial console.
It stands behind :class:`waltport.lab.target.ports.Power` and
:class:`~waltport.lab.target.ports.ConsolePort` like any other implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from waltport.lab.target.console import Console


class VirtualBoard(Console):
    """A QEMU board: ``on`` starts the process, ``off`` ends it (TERM, then KILL)."""

    kind = "qemu"

    def __init__(self, argv: Sequence[str], log_path: Path) -> None:
        super().__init__(argv, log_path)

    def on(self) -> None:
        self.start()

    def off(self) -> None:
        self.stop()

    def alive(self) -> bool | None:
        return self.running()

    def open(self) -> None:
        """The console opens with the process (power-on)."""

    def close(self) -> None:
        self.stop()
