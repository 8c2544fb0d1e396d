"""The isolated lab network: network namespaces the project creates, owns and removes.

Layout of a lab called ``NAME`` (default ``walt-lab``, subnet ``192.168.152.0/24``)::

    netns NAME                                  netns NAME-client
    +-------------------------------------+     +-------------------+
    | br0  192.168.152.1/24 (server side) |     | eth0 (no address; |
    |  +- vc0  (veth) --------------------+-----+-> DHCP gives one) |
    |  +- tapN (QEMU boards, add_tap())   |     +-------------------+
    +-------------------------------------+

Neither namespace has a route out: traffic never leaves them.  A marker file
``/run/waltport/labs/NAME`` says the project created the namespace; ``down``
refuses to touch a namespace without it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from waltport.errors import WaltportError

MARKER_DIR = Path(os.environ.get("WALTPORT_LAB_MARKERS", "/run/waltport/labs"))
NETNS_DIR = Path("/run/netns")
NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,20}")   # fullmatch: no final newline
DEFAULT_SUBNET = "192.168.152.0/24"
BRIDGE = "br0"
UPLINK = "vc0"
CLIENT_IF = "eth0"


class LabError(WaltportError):
    """The lab network could not be created, inspected or removed."""

    exit_code = 3


def _run(argv: list[str]) -> str:
    """Run one ``ip`` command; a failure becomes a LabError naming the command."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except FileNotFoundError as err:
        raise LabError(f"{argv[0]} not found: install iproute2") from err
    if done.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
    return done.stdout


def netns_exists(name: str) -> bool:
    """True if a named network namespace exists (``ip netns add`` made it)."""
    return (NETNS_DIR / name).exists()


def marker_path(name: str) -> Path:
    """Where the ownership marker of lab ``name`` lives."""
    return MARKER_DIR / name


def is_owned(name: str) -> bool:
    """True if ``name`` is a lab this project created (and it still exists)."""
    return marker_path(name).is_file() and netns_exists(name)


def current_netns_is(name: str) -> bool:
    """True if this process runs inside the named namespace (same inode)."""
    try:
        mine = os.stat("/proc/self/ns/net")
        theirs = os.stat(NETNS_DIR / name)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def recorded_subnet(name: str) -> str | None:
    """The subnet lab ``name`` was brought up with (from its marker), None if it is not."""
    path = marker_path(name)
    try:
        return str(json.loads(path.read_text())["subnet"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise LabError(f"lab marker {path} is unreadable ({err}): `waltport lab down "
                       f"--name {name}` removes the lab") from err


class Lab:
    """One lab: a server namespace with a bridge, and a client namespace on the same segment.

    ``subnet``: for a lab that is up, the one it was brought up with (recorded
    in its marker) unless given; else ``DEFAULT_SUBNET``.  ``up`` refuses a
    subnet other than the recorded one.
    """

    def __init__(self, name: str = "walt-lab", subnet: str | None = None) -> None:
        if not NAME_RE.fullmatch(name):
            raise LabError(f"bad lab name {name!r}: use [a-z0-9-], start with a letter, "
                           "at most 21 characters")
        self.recorded = recorded_subnet(name)
        subnet = subnet or self.recorded or DEFAULT_SUBNET
        try:
            net = ipaddress.IPv4Network(subnet)
        except ValueError as err:
            raise LabError(f"bad lab subnet {subnet!r}: {err}") from err
        if not net.is_private or net.prefixlen > 28:
            raise LabError(f"lab subnet {subnet} must be a private IPv4 network of /28 or larger")
        self.name = name
        self.network = net
        self.subnet = str(net)

    # -- names ------------------------------------------------------------
    @property
    def netns(self) -> str:
        """The server namespace (bridge, taps, bench server)."""
        return self.name

    @property
    def client_netns(self) -> str:
        """The namespace for host-side test clients."""
        return f"{self.name}-client"

    @property
    def bridge(self) -> str:
        return BRIDGE

    @property
    def client_interface(self) -> str:
        return CLIENT_IF

    @property
    def server_ip(self) -> str:
        """The server address: the first host of the subnet (WalT's default .1)."""
        return str(self.network.network_address + 1)

    def exec_argv(self, argv: list[str]) -> list[str]:
        """The command line running ``argv`` inside the server namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def client_exec_argv(self, argv: list[str]) -> list[str]:
        """The command line running ``argv`` inside the client namespace."""
        return ["ip", "netns", "exec", self.client_netns, *argv]

    # -- life cycle -------------------------------------------------------
    def up(self) -> Lab:
        """Create both namespaces and their links; running it again changes nothing."""
        for ns in (self.netns, self.client_netns):
            if netns_exists(ns) and not marker_path(self.name).is_file():
                raise LabError(f"network namespace {ns} exists but was not created by "
                               "waltport: refusing to use it (pick another --name)")
        if self.recorded is not None and ipaddress.IPv4Network(self.recorded) != self.network:
            raise LabError(f"lab {self.name} is up with subnet {self.recorded}, not "
                           f"{self.subnet}: `waltport lab down --name {self.name}` first to "
                           "change it")
        MARKER_DIR.mkdir(parents=True, exist_ok=True)
        if not marker_path(self.name).is_file():
            marker_path(self.name).write_text(json.dumps(
                {"name": self.name, "subnet": self.subnet, "created": time.time()}) + "\n")
        ns, cns = self.netns, self.client_netns
        for n in (ns, cns):
            if not netns_exists(n):
                _run(["ip", "netns", "add", n])
            _run(["ip", "-n", n, "link", "set", "lo", "up"])
        if not self._has_link(ns, BRIDGE):
            _run(["ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge",
                  "forward_delay", "0", "stp_state", "0"])
        # No multicast snooping: once MLD reports are seen the bridge would stop
        # delivering router solicitations (ff02::2) to the server's RA responder.
        _run(["ip", "-n", ns, "link", "set", BRIDGE, "type", "bridge", "mcast_snooping", "0"])
        addr = f"{self.server_ip}/{self.network.prefixlen}"
        if addr not in self._addresses(ns, BRIDGE):
            _run(["ip", "-n", ns, "addr", "add", addr, "dev", BRIDGE])
        _run(["ip", "-n", ns, "link", "set", BRIDGE, "up"])
        if not self._has_link(ns, UPLINK):
            _run(["ip", "-n", ns, "link", "add", UPLINK, "type", "veth",
                  "peer", "name", CLIENT_IF, "netns", cns])
        _run(["ip", "-n", ns, "link", "set", UPLINK, "master", BRIDGE, "up"])
        _run(["ip", "-n", cns, "link", "set", CLIENT_IF, "up"])
        return self

    def down(self) -> None:
        """Stop every process inside the lab namespaces, then delete them (idempotent)."""
        if not marker_path(self.name).is_file():
            for ns in (self.netns, self.client_netns):
                if netns_exists(ns):
                    raise LabError(f"network namespace {ns} was not created by waltport: "
                                   "leaving it alone")
            return
        for ns in (self.netns, self.client_netns):
            try:
                if netns_exists(ns):
                    self._kill_inside(ns)
                    _run(["ip", "netns", "del", ns])
            except LabError:
                # Another taker-down (a guardian, a second `lab down`) may have won.
                if netns_exists(ns):
                    raise
        with contextlib.suppress(FileNotFoundError):
            marker_path(self.name).unlink()

    def status(self) -> dict[str, object]:
        """What exists now: namespaces, links with addresses, processes inside."""
        out: dict[str, object] = {
            "name": self.name, "subnet": self.subnet, "server_ip": self.server_ip,
            "owned": marker_path(self.name).is_file(), "up": is_owned(self.name),
            "netns": self.netns, "client_netns": self.client_netns, "bridge": BRIDGE,
        }
        links: dict[str, object] = {}
        for ns in (self.netns, self.client_netns):
            if netns_exists(ns):
                data = json.loads(_run(["ip", "-n", ns, "-j", "addr", "show"]) or "[]")
                links[ns] = [
                    {"ifname": d["ifname"], "state": d.get("operstate"), "master": d.get("master"),
                     "addresses": [f"{a['local']}/{a['prefixlen']}" for a in d.get("addr_info", [])
                                   if a.get("family") == "inet"]}
                    for d in data if d["ifname"] != "lo"]
                links[f"{ns}:pids"] = self._pids(ns)
        out["links"] = links
        return out

    # -- taps for QEMU boards --------------------------------------------
    def add_tap(self, tap_name: str) -> str:
        """Create tap ``tap_name`` in the server namespace, on the bridge; returns its name."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,15}", tap_name):
            raise LabError(f"bad tap name {tap_name!r} (1-15 of [A-Za-z0-9_-])")
        if not is_owned(self.name):
            raise LabError(f"lab {self.name} is not up (run `waltport lab up --name {self.name}`)")
        if not self._has_link(self.netns, tap_name):
            _run(["ip", "-n", self.netns, "tuntap", "add", "dev", tap_name, "mode", "tap"])
        _run(["ip", "-n", self.netns, "link", "set", tap_name, "master", BRIDGE, "up"])
        return tap_name

    def remove_tap(self, name: str) -> None:
        """Delete a tap made by :meth:`add_tap` (no error if already gone)."""
        if netns_exists(self.netns) and self._has_link(self.netns, name):
            _run(["ip", "-n", self.netns, "link", "del", name])

    # -- helpers ----------------------------------------------------------
    @staticmethod
    def _has_link(ns: str, ifname: str) -> bool:
        done = subprocess.run(["ip", "-n", ns, "link", "show", "dev", ifname],
                              capture_output=True, check=False)
        return done.returncode == 0

    @staticmethod
    def _addresses(ns: str, ifname: str) -> list[str]:
        data = json.loads(_run(["ip", "-n", ns, "-j", "addr", "show", "dev", ifname]) or "[]")
        return [f"{a['local']}/{a['prefixlen']}" for d in data for a in d.get("addr_info", [])]

    @staticmethod
    def _pids(ns: str) -> list[int]:
        text = _run(["ip", "netns", "pids", ns])
        return [int(p) for p in text.split() if p.isdigit()]

    def _kill_inside(self, ns: str) -> None:
        """SIGTERM, then SIGKILL after 3 s, every process living in ``ns``."""
        pids = self._pids(ns)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = self._pids(ns)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
