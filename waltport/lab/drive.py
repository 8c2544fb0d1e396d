"""The boot sequence, driven: power a target on, watch it boot, judge every stage.

One function, :func:`drive`, for every target: it starts the capture on the
link, opens the console (if any), powers the board on, then watches the
evidence come in (packets as tcpdump writes them, console lines, the
server's registry) until every stage this bench can observe is reached, the
board gives up (U-Boot's prompt, a panic, it powers itself off) or the
timeout passes.  On the way it serves the image root over NFS once the board
has a lease and logs in over SSH once the image's init is up.  Whatever
happens, the board is powered off and the console and capture closed.
"""

from __future__ import annotations

import contextlib
import enum
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from waltport.errors import WaltportError
from waltport.lab.login import (
    LOGIN_COMMAND,
    NODE_FACTS_COMMAND,
    NODE_FACTS_TIMEOUT,
    SSH_TIMEOUT,
    ImageLogin,
    parse_node_facts,
    ssh_command,
)
from waltport.lab.nfs import NfsServer, node_exports
from waltport.lab.sequence import (
    IMAGE_INIT_RE,
    DhcpSeen,
    Observability,
    Stage,
    TftpSeen,
    WireWatch,
    compute_stages,
    failed_stage,
    parse_pcap,
    with_logged,
)
from waltport.lab.target.ports import Target
from waltport.net.capture import Capture
from waltport.net.pcaptail import PcapTail
from waltport.net.registry import Registry
from waltport.net.tftp import read_transfer_log

POLL = 0.2
NOTIFY_WAIT = 5.0     # after the board stops: the boot notification may still be on its way
PROMPT_RE = re.compile(r"^=> $")     # U-Boot gave up and waits at its prompt (never on a node)
PANIC_RE = re.compile(r"Kernel panic")


class Stop(enum.Enum):
    """Why a board cannot get further than it did (its value: the words of the report)."""

    PROMPT = "U-Boot fell to its prompt"
    PANIC = "the kernel panicked"
    LOGIN_FAILED = "the SSH login failed"
    STOPPED = "the board stopped (it powered itself off or reset)"

    @property
    def more_may_come(self) -> bool:
        """A board that stopped may have sent its boot notification just before."""
        return self is Stop.STOPPED


class BootServer(Protocol):
    """What a boot reads from the server side: the bench server, or the reference daemons."""

    @property
    def registry(self) -> Registry: ...

    @property
    def transfer_log(self) -> Path: ...


@dataclass(frozen=True)
class Expected:
    """What the board should do on the wire: its model, identifier option and files."""

    model: str
    identifier: str               # vci | uci
    second_stage: str             # start.uboot | start.ipxe
    kernel: str
    initrd: str | None


@dataclass(frozen=True)
class BootRun:
    """One boot: ok, each stage with status, time and evidence, where the logs are."""

    index: int
    mac: str | None
    ok: bool
    failed_stage: str | None
    stages: tuple[Stage, ...]
    console_log: str | None
    pcap: str
    console_tail: tuple[str, ...] = ()
    error: str | None = None
    target: tuple[tuple[str, str], ...] = ()      # port -> implementation kind
    stand_in: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "ok": self.ok, "mac": self.mac,
                "failed_stage": self.failed_stage, "target": dict(self.target),
                "stand_in": self.stand_in,
                "stages": [{"name": s.name, "time": s.time, "status": s.status,
                            "reason": s.reason, "evidence": s.evidence} for s in self.stages],
                "console_log": self.console_log, "pcap": self.pcap,
                "console_tail": list(self.console_tail), "error": self.error}


def _booted_time(server: BootServer, mac: str, model: str, since: float) -> float | None:
    """When the server recorded this boot's notification (events of older boots ignored)."""
    events = [e for e in server.registry.events(mac)
              if e.kind == "booted" and e.model == model and e.time >= since]
    return events[0].time if events else None


def _logged_transfers(server: BootServer, client_ip: str | None,
                      since: float) -> list[TftpSeen]:
    """Transfers the server logged as sent whole to ``client_ip`` since ``since``."""
    if client_ip is None or not server.transfer_log.exists():
        return []
    return [TftpSeen(r.time, r.time + r.duration, r.requested.lstrip("/"), r.bytes, True,
                     on_wire=False)
            for r in read_transfer_log(server.transfer_log)
            if r.client == client_ip and r.result == "ok" and r.time >= since]


class _Boot:
    """The state of one boot while it is watched (edge: owns NFS and the login)."""

    def __init__(self, target: Target, server: BootServer | None, expected: Expected, *,
                 login: ImageLogin | None, seen: Observability, run_dir: Path,
                 nfs: contextlib.ExitStack) -> None:
        self.target, self.server, self.expected = target, server, expected
        self.login, self.seen, self.run_dir, self.nfs = login, seen, run_dir, nfs
        self.wire = WireWatch(target.mac)
        self.t0 = 0.0
        self.leg: dict[str, object] = {"time": None}
        self.node_ip: str | None = None
        self.login_tried = False

    def console_lines(self) -> list[tuple[float, str]]:
        con = self.target.console
        if con is None:
            return []
        lines, _ = con.snapshot()
        shift = con.started_wall - self.t0      # console time -> seconds since power-on
        return [(ln.time + shift, ln.text) for ln in lines]

    def booted(self) -> float | None:
        mac = self.wire.mac
        if self.server is None or mac is None:
            return None
        return _booted_time(self.server, mac, self.expected.model, self.t0)

    def logged(self) -> list[TftpSeen]:
        """What the server's transfer log says it sent this boot's board."""
        mac = self.wire.mac
        if self.server is None or mac is None:
            return []
        return _logged_transfers(self.server, self.server.registry.lease_of(mac), self.t0)

    def stages(self, dhcp: Sequence[DhcpSeen] | None = None,
               tftp: Sequence[TftpSeen] | None = None) -> list[Stage]:
        """The stages from the wire (or the given capture), the server's transfer log,
        the console and the login."""
        e = self.expected
        logged = self.logged()
        return compute_stages(
            t0_wall=self.t0, model=e.model, identifier=e.identifier,
            second_stage=e.second_stage, kernel=e.kernel, initrd=e.initrd,
            dhcp=self.wire.dhcp if dhcp is None else dhcp,
            tftp=with_logged(self.wire.tftp if tftp is None else tftp, logged),
            console=self.console_lines(), booted_wall=self.booted(),
            served={t.filename: t.bytes for t in logged},
            login=self.leg if self.seen.image_stages else None,
            notification=self.wire.notification, seen=self.seen)

    def image_leg(self, stages: list[Stage]) -> None:
        """NFS root once the board has a lease; SSH login once the image's init is up."""
        if self.login is None or self.server is None or self.wire.mac is None:
            return
        if self.node_ip is None:
            self.node_ip = self.server.registry.lease_of(self.wire.mac)
            if self.node_ip is None:
                return
            self.leg["node_ip"] = self.node_ip
            try:
                self.nfs.enter_context(NfsServer(
                    self.target.link, node_exports(self.node_ip, self.login.image_root,
                                                   self.login.key.lab_dir),
                    self.run_dir / "nfs"))
            except WaltportError as err:
                # The initramfs then falls back to power-off; the image stages fail with this.
                self.leg["error"] = str(err)
        by = {s.name: s for s in stages}
        ready = any(IMAGE_INIT_RE.search(ln) for _, ln in self.console_lines()) \
            if self.target.console is not None else by["userspace"].time is not None
        if ready and not self.login_tried and "error" not in self.leg:
            self.login_tried = True
            self._ssh()

    def _ssh(self) -> None:
        assert self.login is not None and self.node_ip is not None
        link = self.target.link
        with link.client_session() as client_ip:
            res = ssh_command(link, self.login.key.private, self.node_ip, LOGIN_COMMAND,
                              timeout=SSH_TIMEOUT)
            self.leg.update({"time": round(time.time() - self.t0, 3) if res.ok else None,
                             "command": f"ssh root@{self.node_ip} {LOGIN_COMMAND}",
                             "from": f"{link.kind} {client_ip}", "output": res.output,
                             "attempts": res.attempts})
            if res.ok:
                facts = ssh_command(link, self.login.key.private, self.node_ip,
                                    NODE_FACTS_COMMAND, timeout=NODE_FACTS_TIMEOUT)
                self.leg["node"] = parse_node_facts(facts.output).to_json() if facts.ok \
                    else {"error": facts.output}
                # Power off the WalT way: through the node's own init.
                ssh_command(link, self.login.key.private, self.node_ip, "poweroff", timeout=10)
            else:
                self.leg["error"] = f"ssh login failed: {res.output}"

    def gave_up(self) -> Stop | None:
        """Why the board cannot get further (None: it may)."""
        con = self.target.console
        if con is not None:
            lines, partial = con.snapshot()
            if PROMPT_RE.search(partial):
                return Stop.PROMPT
            if any(PANIC_RE.search(ln.text) for ln in lines[-40:]):
                return Stop.PANIC
        if self.login_tried and self.leg.get("time") is None:
            return Stop.LOGIN_FAILED
        if self.target.power.alive() is False:
            return Stop.STOPPED
        return None

    def reason(self, stop: Stop) -> str:
        """The report's words for ``stop`` (a failed login says what SSH answered)."""
        return str(self.leg.get("error")) if stop is Stop.LOGIN_FAILED else stop.value


def _done(boot: _Boot, stages: list[Stage]) -> bool:
    if failed_stage(stages) is not None:
        return False
    if boot.seen.stand_in and "kernel_fetched" in boot.seen.board_stages:
        # A stand-in's last proof: the second stage ran (it asked for the next file).
        fetched = next(s for s in stages if s.name == "second_stage_fetched")
        return bool(fetched.evidence.get("then_requested")) or \
            boot.target.power.alive() is False
    return True


def _watch(boot: _Boot, tail: PcapTail, timeout: float) -> str | None:
    """Poll the evidence until done, given up or timed out; the error (None: done)."""
    deadline = time.monotonic() + timeout
    ended: float | None = None
    stop: Stop | None = None
    while True:
        for ts, frame in tail.read():
            boot.wire.feed(ts, frame)
        stages = boot.stages()
        if _done(boot, stages):
            return None
        boot.image_leg(stages)
        stop = stop or boot.gave_up()
        if stop is not None:
            ended = ended or time.monotonic()
            if not stop.more_may_come or time.monotonic() - ended > NOTIFY_WAIT:
                return boot.reason(stop)
        if time.monotonic() > deadline:
            missed = failed_stage(stages)
            return f"{missed} not seen within {timeout:.0f} s"
        time.sleep(POLL)


def drive(target: Target, server: BootServer | None, expected: Expected, *, index: int,
          run_dir: Path, timeout: float, login: ImageLogin | None = None,
          seen: Observability | None = None) -> BootRun:
    """Boot ``target`` once through the sequence; a :class:`BootRun` whatever the board does.

    Errors of the bench itself (a power command failing, a console that
    cannot open) are raised, after everything started here was stopped.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    pcap = run_dir / "capture.pcap"
    seen = seen or Observability(image_stages=login is not None)
    link, console, power = target.link, target.console, target.power
    error: str | None = None
    with contextlib.ExitStack() as nfs:
        boot = _Boot(target, server, expected, login=login, seen=seen, run_dir=run_dir,
                     nfs=nfs)
        with Capture(link.netns, link.interface, pcap, grace=0.5) as cap:
            try:
                if console is not None:
                    console.open()
                boot.t0 = time.time()
                power.on()
                error = _watch(boot, PcapTail(cap.partial), timeout)
            except BaseException:
                # The first error is the one to report; the board goes off regardless.
                with contextlib.suppress(WaltportError):
                    power.off()
                raise
            else:
                power.off()
            finally:
                if console is not None:
                    console.close()
    dhcp, tftp = parse_pcap(pcap.read_bytes() if pcap.exists() else b"", boot.wire.mac)
    stages = boot.stages(dhcp, tftp)
    failed = failed_stage(stages)
    if failed is not None and error is None:
        error = "userspace marker seen but no boot notification recorded" \
            if failed == "userspace" else str(boot.leg.get("error") or "stage not reached")
    log = getattr(console, "log_path", None)
    tail = tuple(console.tail(15)) if console is not None and failed else ()
    kinds = (("power", power.kind), ("console", console.kind if console else "none"),
             ("link", link.kind))
    return BootRun(index, boot.wire.mac, failed is None, failed, tuple(stages),
                   str(log) if log else None, str(pcap), tail,
                   error if failed else None, kinds, target.stand_in)
