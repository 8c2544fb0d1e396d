"""The LAN safety guard: the DHCP server only runs where it cannot hurt a real network.

A pure check over facts about the interface (``refusal_reasons``) and one
edge function gathering those facts with ``ip -j`` (``interface_facts``).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass

from waltport.errors import WaltportError
from waltport.host import netns


class UnsafeNetwork(WaltportError):
    """Refusal to serve DHCP on an interface that may reach a real network."""

    exit_code = 4


@dataclass(frozen=True)
class InterfaceFacts:
    interface: str
    exists: bool
    lab: str | None  # the project lab this process runs in, if any
    default_route: bool
    addresses: tuple[str, ...]  # IPv4 CIDRs on the interface


def refusal_reasons(facts: InterfaceFacts, *, isolated_ack: bool) -> list[str]:
    """Why serving on ``facts.interface`` is refused (empty list: allowed)."""
    if not facts.exists:
        return [f"interface {facts.interface} does not exist"]
    reasons = []
    if not facts.addresses:
        reasons.append(f"interface {facts.interface} has no IPv4 address to serve from")
    if isolated_ack:
        return reasons
    if facts.lab is None:
        reasons.append(f"{facts.interface} is not inside a network namespace created by "
                       "`waltport lab up`")
    if facts.default_route:
        reasons.append("this network namespace has a default route (a way out to a real LAN)")
    public = [a for a in facts.addresses if not ipaddress.IPv4Interface(a).ip.is_private]
    if public:
        reasons.append(f"{facts.interface} has non-private address(es) {', '.join(public)}")
    return reasons


def interface_facts(interface: str, lab: str | None) -> InterfaceFacts:
    """Read the facts of ``interface`` in the current namespace (``lab``: claimed lab name)."""
    def ip_json(*args: str) -> list[dict]:  # type: ignore[type-arg]
        done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=False)
        return json.loads(done.stdout or "[]") if done.returncode == 0 else []

    links = ip_json("addr", "show", "dev", interface)
    addrs = tuple(f"{a['local']}/{a['prefixlen']}" for d in links
                  for a in d.get("addr_info", []) if a.get("family") == "inet")
    routes = ip_json("-4", "route", "show", "default") + ip_json("-6", "route", "show", "default")
    in_lab = lab if lab and netns.is_owned(lab) and netns.current_netns_is(lab) else None
    return InterfaceFacts(interface, bool(links), in_lab, bool(routes), addrs)


def check_interface(interface: str, lab: str | None, *, isolated_ack: bool) -> InterfaceFacts:
    """Raise UnsafeNetwork naming every reason, or return the facts."""
    facts = interface_facts(interface, lab)
    reasons = refusal_reasons(facts, isolated_ack=isolated_ack)
    if reasons:
        raise UnsafeNetwork("refusing to serve DHCP: " + "; ".join(reasons) + " (use a lab, "
                            "or --interface IFACE --i-know-this-network-is-isolated)")
    return facts
