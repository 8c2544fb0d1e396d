"""The three ports of a board under test, as protocols: power, console, link.

A boot (:mod:`waltport.lab.drive`) only talks to these; which implementation
stands behind each (QEMU, shell commands, a porter, a serial adapter, a lab
namespace, a host interface) is the bench's business:

==========  =====================================================================
power       ``qemu`` (:class:`waltport.lab.virtual.board.VirtualBoard`),
            ``command``, ``manual``, ``none`` (:mod:`waltport.lab.target.power`)
console     ``qemu`` (the same VirtualBoard), ``serial``
            (:class:`waltport.lab.target.serial.SerialConsole`), ``none``
link        ``lab`` (the virtual lab's namespaces), ``interface`` (a host interface
            the bench server serves on), ``passive`` (capture only, never serve)
            (:mod:`waltport.lab.target.link`)
==========  =====================================================================
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from waltport.lab.target.console import Line


class Power(Protocol):
    """Switches the board on and off (``off`` must be safe to call twice)."""

    @property
    def kind(self) -> str: ...

    def on(self) -> None: ...

    def off(self) -> None: ...

    def alive(self) -> bool | None:
        """False once the board is known to be off by itself (None: cannot tell)."""
        ...


class ConsolePort(Protocol):
    """The board's serial output as time-stamped lines (seconds since ``started_wall``)."""

    @property
    def kind(self) -> str: ...

    @property
    def started_wall(self) -> float: ...

    def open(self) -> None:
        """Start listening (before power-on; a QEMU console opens with its process)."""
        ...

    def close(self) -> None: ...

    def snapshot(self) -> tuple[list[Line], str]: ...

    def tail(self, n: int = 15) -> list[str]: ...

    def expect(self, pattern: str, timeout: float, what: str | None = None) \
            -> tuple[float, str]: ...


class Link(Protocol):
    """The cable between the board and the bench: where to capture, serve and log in from."""

    @property
    def kind(self) -> str:
        """lab | interface | passive"""
        ...

    @property
    def serves(self) -> bool:
        """False: passive, not a packet is sent."""
        ...

    @property
    def netns(self) -> str | None:
        """Namespace of the capture and servers (None: this one)."""
        ...

    @property
    def interface(self) -> str:
        """Capture here (the board's tap, or the host interface)."""
        ...

    @property
    def server_ip(self) -> str: ...

    @property
    def subnet(self) -> str: ...

    def exec_argv(self, argv: list[str]) -> list[str]:
        """``argv`` run where the bench server runs."""
        ...

    def client_exec_argv(self, argv: list[str]) -> list[str]:
        """``argv`` run where an SSH login to the node comes from."""
        ...

    def client_session(self) -> AbstractContextManager[str]:
        """A source address for the login for the time of the context (its IP)."""
        ...


@dataclass(frozen=True)
class Target:
    """One board under test: its three ports, and its MAC when known beforehand."""

    power: Power
    console: ConsolePort | None
    link: Link
    mac: str | None = None        # None: learnt from the first DHCP request on the link
    stand_in: str | None = None   # why this board only stands in for the real one
