"""A serial console on a tty (a USB-serial adapter, or one end of a pty pair), via pyserial.

Open it before power-on: U-Boot's banner comes within a second.  The line
log, stamps and ``expect`` are :class:`waltport.lab.target.console.LineConsole`'s.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

import serial

from waltport.lab.target.console import ConsoleError, LineConsole

READ_TIMEOUT = 0.1   # seconds a read waits; bounds how long stop() takes


class SerialConsole(LineConsole):
    """``port`` at ``baud`` (8N1, no flow control), read until :meth:`stop`."""

    kind = "serial"

    def __init__(self, port: str, baud: int, log_path: Path) -> None:
        super().__init__(log_path)
        self.port = port
        self.baud = baud
        self._serial: serial.Serial | None = None
        self._stop = threading.Event()

    def start(self) -> SerialConsole:
        try:
            self._serial = serial.Serial(self.port, self.baud, timeout=READ_TIMEOUT)
        except (serial.SerialException, ValueError, OSError) as err:
            raise ConsoleError(f"console: cannot open serial port {self.port} at {self.baud} "
                               f"baud: {err}") from err
        self._stop.clear()
        self._begin()
        return self

    def open(self) -> None:
        self.start()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> SerialConsole:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _chunk(self) -> bytes | None:
        if self._stop.is_set() or self._serial is None:
            return None
        try:
            # One byte (waits up to READ_TIMEOUT), then whatever else is waiting: a
            # plain read(4096) would sit on a slow trickle until the timeout, the
            # pty/UART buffer would fill and the board's console writes would stall.
            first = self._serial.read(1)
            waiting = self._serial.in_waiting if first else 0
            return bytes(first + self._serial.read(waiting)) if waiting else bytes(first)
        except (serial.SerialException, OSError):
            # The adapter was unplugged (or the pty's other end closed for good).
            return None

    def running(self) -> bool:
        return self._serial is not None and not self._stop.is_set()

    def send(self, text: str) -> None:
        """Type ``text`` on the console."""
        if self._serial is None:
            raise ConsoleError(f"serial port {self.port} is not open")
        self._serial.write(text.encode())
        self._serial.flush()

    def stop(self) -> None:
        """Stop the reader and close the port."""
        self._stop.set()
        self._join()
        if self._serial is not None:
            self._serial.close()
