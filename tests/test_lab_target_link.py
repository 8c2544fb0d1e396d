"""The bench link's refusals (pure) and its interface facts from a real namespace."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from waltport.lab.target.link import HostLink, InterfaceFacts, LinkError, interface_refusals


def _facts(**kw: object) -> InterfaceFacts:
    base: dict[str, object] = {"name": "eth1", "exists": True, "up": False, "addresses": (),
                               "default_route_devs": ("eth0",)}
    return InterfaceFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_refusals() -> None:
    assert interface_refusals(_facts(), serves=True) == []
    assert "does not exist" in interface_refusals(_facts(exists=False), serves=True)[0]
    route = interface_refusals(_facts(default_route_devs=("eth1",)), serves=True)
    assert "carries the default route" in route[0]
    # Passive: a default route is no danger (nothing is sent), a down interface sees nothing.
    assert interface_refusals(_facts(up=True, default_route_devs=("eth1",)), serves=False) == []
    assert "is down" in interface_refusals(_facts(), serves=False)[0]


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"wpbench-link{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "add", "bench0", "type", "veth", "peer", "name",
                    "board0"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
def test_attach_sets_and_removes_the_server_address(netns: str) -> None:
    script = """
from waltport.lab.target.link import HostLink, read_interface
link = HostLink("bench0", "10.77.0.1/24", isolated_ack=True)
with link.attach():
    print(read_interface("bench0").addresses, link.server_ip, link.subnet)
print(read_interface("bench0").addresses)
"""
    done = subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", script],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.stdout.splitlines() == ["('10.77.0.1/24',) 10.77.0.1 10.77.0.0/24", "()"]
    assert HostLink("x", serves=False).kind == "passive"
    assert issubclass(LinkError, Exception)
