"""What a WalT server answers to a DHCP request: a pure decision over values.

Mirrors the ISC dhcpd configuration a WalT server generates (see
docs/bench-server.md): long leases, ``next-server`` and option 66 = server,
the iPXE first stage for x86 BIOS PXE ROMs, no file for ``walt.node``
clients, the Raspberry Pi PXE menu, and iPXE's option 175 shortcut.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from waltport.net import dhcp_wire as w
from waltport.walt import WALT_PREFIX

PXE_FIRST_STAGE = "pxe/walt-x86-undionly.kpxe"
LEASE_TIME = 6_000_000
RPI_OUIS = ("b8:27:eb", "dc:a6:32", "e4:5f:01", "28:cd:c1", "d8:3a:dd", "2c:cf:67")
# Option 43 as dnsmasq's ``pxe-service=0,"Raspberry Pi Boot"`` encodes it, which
# RPi boot ROMs accept: discovery control 3, menu prompt, one menu item.
RPI_OPTION_43 = (bytes((6, 1, 3)) + bytes((10, 4, 0)) + b"PXE"
                 + bytes((9, 20, 0, 0, 17)) + b"Raspberry Pi Boot   ")


@dataclass(frozen=True)
class DhcpConfig:
    """Addresses of the lab segment and the lease pool."""

    server_ip: str
    network: str
    pool: tuple[str, ...]
    lease_time: int = LEASE_TIME
    domain: str = "walt"

    @classmethod
    def for_network(cls, network: str, server_ip: str) -> DhcpConfig:
        """Pool: every host of ``network`` from .10 on (the first ones stay for statics)."""
        net = ipaddress.IPv4Network(network)
        hosts = [str(h) for h in net.hosts() if str(h) != server_ip]
        pool = hosts[8:] if len(hosts) > 20 else hosts
        return cls(server_ip=server_ip, network=str(net), pool=tuple(pool))


@dataclass(frozen=True)
class Decision:
    """``action`` is offer/ack/nak/ignore; ``commit`` marks a lease commit (registration)."""

    action: str
    reply: w.DhcpMessage | None
    commit: bool
    reason: str
    ip: str | None = None


def is_pxe_rom(msg: w.DhcpMessage) -> bool:
    """An x86 BIOS PXE ROM: PXEClient VCI, client arch 0, no walt.node user class."""
    vci, uci = msg.vci or "", msg.uci or ""
    return vci.startswith("PXEClient") and msg.arch == 0 and not uci.startswith(WALT_PREFIX)


def reply_options(msg: w.DhcpMessage, cfg: DhcpConfig, mtype: int) -> tuple[tuple[int, bytes], ...]:
    """The options of an OFFER/ACK: never echoes option 60 (U-Boot warns) except RPi PXE."""
    net = ipaddress.IPv4Network(cfg.network)
    sip = ipaddress.IPv4Address(cfg.server_ip).packed
    opts: list[tuple[int, bytes]] = [(w.OPT_MSGTYPE, bytes((mtype,))), (w.OPT_SERVER_ID, sip)]
    if mtype != w.ACK or msg.msg_type != w.INFORM:
        opts.append((w.OPT_LEASE, cfg.lease_time.to_bytes(4, "big")))
    opts += [(w.OPT_MASK, net.netmask.packed), (w.OPT_BROADCAST, net.broadcast_address.packed),
             (w.OPT_DNS, sip), (w.OPT_DOMAIN, cfg.domain.encode()), (w.OPT_NTP, sip),
             (w.OPT_TFTP_SERVER, cfg.server_ip.encode())]
    if (msg.vci or "").startswith("PXEClient") and msg.chaddr[:8] in RPI_OUIS:
        opts += [(w.OPT_VCI, b"PXEClient"), (w.OPT_VENDOR, RPI_OPTION_43)]
    if msg.opt(w.OPT_IPXE) is not None:
        # Sub-option 176 (no-pxedhcp) = 1: iPXE skips its ~2 s ProxyDHCP wait.
        opts.append((w.OPT_IPXE, bytes((w.IPXE_NO_PXEDHCP, 1, 1))))
    return tuple(opts)


def make_reply(msg: w.DhcpMessage, cfg: DhcpConfig, mtype: int, ip: str | None) -> w.DhcpMessage:
    """The reply message to ``msg`` (yiaddr ``ip``; next-server and file per WalT)."""
    return w.DhcpMessage(
        op=2, xid=msg.xid, chaddr=msg.chaddr, ciaddr=msg.ciaddr if mtype == w.ACK else "0.0.0.0",
        yiaddr=ip or "0.0.0.0", siaddr=cfg.server_ip if mtype != w.NAK else "0.0.0.0",
        giaddr=msg.giaddr, flags=msg.flags,
        file=PXE_FIRST_STAGE if mtype != w.NAK and is_pxe_rom(msg) else "",
        options=(((w.OPT_MSGTYPE, bytes((w.NAK,))),
                  (w.OPT_SERVER_ID, ipaddress.IPv4Address(cfg.server_ip).packed))
                 if mtype == w.NAK else reply_options(msg, cfg, mtype)))


def decide(msg: w.DhcpMessage, cfg: DhcpConfig, leased_ip: str | None) -> Decision:
    """Answer ``msg`` given the client's stable lease (``None`` if the pool had none)."""
    if msg.op != 1:
        return Decision("ignore", None, False, "not a BOOTREQUEST")
    mtype = msg.msg_type
    if mtype is None:
        return Decision("ignore", None, False, "plain BOOTP (no option 53) is not served")
    if mtype in (w.RELEASE, w.DECLINE):
        return Decision("ignore", None, False, f"{w.MESSAGE_TYPES[mtype]}: lease kept (stable IP)")
    if mtype == w.INFORM:
        return Decision("ack", make_reply(msg, cfg, w.ACK, None), False, "INFORM")
    if leased_ip is None:
        return Decision("ignore", None, False, "lease pool exhausted")
    if mtype == w.DISCOVER:
        return Decision("offer", make_reply(msg, cfg, w.OFFER, leased_ip), False, "DISCOVER",
                        leased_ip)
    if mtype != w.REQUEST:
        return Decision("ignore", None, False, f"{w.MESSAGE_TYPES[mtype]} is not a client message")
    server_id = msg.ip_opt(w.OPT_SERVER_ID)
    if server_id is not None and server_id != cfg.server_ip:
        return Decision("ignore", None, False, f"client selected server {server_id}")
    wanted = msg.ip_opt(w.OPT_REQ_IP) or (msg.ciaddr if msg.ciaddr != "0.0.0.0" else None)
    if wanted != leased_ip:
        return Decision("nak", make_reply(msg, cfg, w.NAK, None), False,
                        f"requested {wanted}, lease is {leased_ip}")
    return Decision("ack", make_reply(msg, cfg, w.ACK, leased_ip), True, "REQUEST", leased_ip)
