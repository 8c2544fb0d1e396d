"""Link implementations: the virtual lab's namespaces, or a host interface a board is cabled to.

``lab``: the board's tap on the lab bridge; the bench server runs in the lab
namespace, SSH logins come from the client namespace.  ``interface``: a host
interface (a USB-Ethernet adapter) with only the board behind it; the bench
server serves on it from this namespace, with ``server_ip`` set on it when it
has no address (removed again afterwards).  ``passive``: a host interface on
a network a real WalT server already serves: capture only; the interface is
not even brought up (that alone sends IPv6 router solicitations).

:func:`interface_refusals` is the pure check; :meth:`HostLink.attach` gathers
the facts and applies it before anything is powered.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from waltport.errors import WaltportError
from waltport.host.netns import Lab
from waltport.lab.login import client_on_lab
from waltport.net import guard


class LinkError(WaltportError):
    """The bench link cannot be used (missing interface, unsafe network, no address)."""

    exit_code = 4


@dataclass
class LabLink:
    """A QEMU board's tap on the bridge of a lab the project created."""

    lab: Lab
    tap: str
    kind: str = "lab"
    serves: bool = True

    @property
    def netns(self) -> str | None:
        return self.lab.netns

    @property
    def interface(self) -> str:
        return self.tap

    @property
    def server_ip(self) -> str:
        return self.lab.server_ip

    @property
    def subnet(self) -> str:
        return self.lab.subnet

    def exec_argv(self, argv: list[str]) -> list[str]:
        return self.lab.exec_argv(argv)

    def client_exec_argv(self, argv: list[str]) -> list[str]:
        return self.lab.client_exec_argv(argv)

    def client_session(self) -> contextlib.AbstractContextManager[str]:
        return client_on_lab(self.lab)


@dataclass(frozen=True)
class InterfaceFacts:
    """What ``ip`` says about the bench interface and this namespace's default routes."""

    name: str
    exists: bool
    up: bool
    addresses: tuple[str, ...]         # IPv4 CIDRs
    default_route_devs: tuple[str, ...]


def interface_refusals(facts: InterfaceFacts, *, serves: bool) -> list[str]:
    """Why the bench cannot use this interface (pure; empty: it can)."""
    if not facts.exists:
        return [f"interface {facts.name} does not exist (is the USB-Ethernet adapter "
                "plugged in? `ip link` lists the interfaces)"]
    if not serves:
        return [] if facts.up else [f"interface {facts.name} is down: bring it up yourself "
                                    f"(`ip link set {facts.name} up`); passive mode never "
                                    "touches it"]
    if facts.name in facts.default_route_devs:
        return [f"interface {facts.name} carries the default route: it leads to a real "
                "network, not to a board on its own cable; refusing to serve DHCP there"]
    return []


def _ip_json(*args: str) -> list[dict[str, object]]:
    done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=False)
    return json.loads(done.stdout or "[]") if done.returncode == 0 else []


def read_interface(name: str) -> InterfaceFacts:
    """The facts of interface ``name`` in this namespace (edge)."""
    links = _ip_json("addr", "show", "dev", name)
    addrs = tuple(f"{a['local']}/{a['prefixlen']}" for d in links
                  for a in d.get("addr_info", []) if a.get("family") == "inet")  # type: ignore[attr-defined]
    up = any("UP" in (d.get("flags") or []) for d in links)  # type: ignore[operator]
    routes = _ip_json("-4", "route", "show", "default") + _ip_json("-6", "route", "show",
                                                                   "default")
    return InterfaceFacts(name, bool(links), up, addrs,
                          tuple(str(r.get("dev")) for r in routes if r.get("dev")))


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LinkError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


@dataclass
class HostLink:
    """A host interface the board is cabled to (``serves``) or that is only listened on."""

    name: str
    server_cidr: str = "192.168.152.1/24"
    serves: bool = True
    isolated_ack: bool = False
    netns: str | None = None
    _cidr: str = ""

    @property
    def kind(self) -> str:
        return "interface" if self.serves else "passive"

    @property
    def interface(self) -> str:
        return self.name

    @property
    def server_ip(self) -> str:
        return str(ipaddress.IPv4Interface(self._cidr or self.server_cidr).ip)

    @property
    def subnet(self) -> str:
        return str(ipaddress.IPv4Interface(self._cidr or self.server_cidr).network)

    def exec_argv(self, argv: list[str]) -> list[str]:
        return list(argv)

    def client_exec_argv(self, argv: list[str]) -> list[str]:
        return list(argv)

    @contextlib.contextmanager
    def client_session(self) -> Iterator[str]:
        # The login leaves from the bench interface itself: its address is the server's.
        yield self.server_ip

    @contextlib.contextmanager
    def attach(self) -> Iterator[HostLink]:
        """Check the interface (and the LAN guard when serving), give it its address."""
        facts = read_interface(self.name)
        reasons = interface_refusals(facts, serves=self.serves)
        if reasons:
            raise LinkError("bench link: " + "; ".join(reasons))
        if not self.serves:
            self._cidr = facts.addresses[0] if facts.addresses else self.server_cidr
            yield self
            return
        added = None
        if facts.addresses:
            self._cidr = facts.addresses[0]
        else:
            self._cidr = added = self.server_cidr
            _ip("addr", "add", added, "dev", self.name)
        try:
            if not facts.up:
                _ip("link", "set", self.name, "up")
            try:
                guard.check_interface(self.name, None, isolated_ack=self.isolated_ack)
            except guard.UnsafeNetwork as err:
                raise LinkError(f"bench link: {err}") from err
            yield self
        finally:
            if added is not None:
                with contextlib.suppress(LinkError):
                    _ip("addr", "del", added, "dev", self.name)
