"""Edge: probe the board of a bench — power on, stop U-Boot, ask, test the network, draft.

Order of things (each undone in reverse, also on Ctrl-C): the output
directory is staged, the bench link gets its address and the bench server
serves a probe file on it, the serial console is opened, the board is
powered on; then the dialogue (:mod:`waltport.probe.session`).  Only
read-only commands are typed, plus ``setenv`` of RAM variables, ``dhcp`` and
``tftpboot`` into the board's own load address: ``saveenv`` never.
The outputs (``probe.json``, ``console.log``, ``<name>.yaml``) are written
even when the bootloader never answered (then with the error), before the
error is raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from waltport._version import __version__
from waltport.lab.bench import Bench, load_bench
from waltport.lab.benchboot import bench_power
from waltport.lab.target.link import HostLink
from waltport.lab.target.serial import SerialConsole
from waltport.net.server import BenchServer, ServeOn
from waltport.net.tftp import TransferRecord, read_transfer_log
from waltport.probe.draft import Draft, check_draft, draft_profile, render_draft, safe_name
from waltport.probe.facts import UBootFacts, parse_env, uboot_facts, with_wire
from waltport.probe.session import Dialogue, ProbeError, StopKeys
from waltport.probe.transcript import Transcript
from waltport.probe.verdicts import PROBLEM, Verdict, profile_verdicts, uboot_verdicts
from waltport.profile.load import load_profile
from waltport.profile.model import Profile
from waltport.util.atomic import write_text
from waltport.util.outdir import output_dir

PROBE_MODEL = "probe"                # bootp_vci walt.node.probe: the server serves boot/probe/
PROBE_FILE = "probe.bin"
PROBE_BYTES = 4 << 20
READ_COMMANDS = ("version", "bdinfo", "printenv", "help", "help setexpr",
                 # A RAM variable only: shows whether setexpr has `sub` (CONFIG_REGEX).
                 'setexpr probe_sub sub "^a" "b" "abc"; printenv probe_sub',
                 "net list")
DHCP_COMMAND = f"setenv autoload no; setenv bootp_vci walt.node.{PROBE_MODEL}; dhcp"
# Tried in order: the board's defaults, a window of 16 at Ethernet's largest unfragmented
# block, then a block that needs IP fragment reassembly (CONFIG_IP_DEFRAG).
TFTP_TRIES: tuple[dict[str, str], ...] = (
    {}, {"tftpblocksize": "1468", "tftpwindowsize": "16"},
    {"tftpblocksize": "4096", "tftpwindowsize": "16"})
DEFAULT_TIMEOUT = 60.0
COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class ProbeResult:
    out: Path
    name: str
    facts: UBootFacts
    verdicts: tuple[Verdict, ...]
    draft: Draft
    draft_path: Path
    draft_problems: tuple[str, ...]

    @property
    def problems(self) -> bool:
        return any(v.status == PROBLEM for v in self.verdicts)


def probe_file_bytes() -> bytes:
    """The probe file: fixed, incompressible bytes (a link that compresses cannot cheat)."""
    return hashlib.shake_256(b"waltport probe").digest(PROBE_BYTES)


def tftp_command(settings: dict[str, str], env: dict[str, str]) -> str:
    """*Pure.* One ``tftpboot`` of the probe file with ``settings``, into a RAM load area."""
    addr = next((f"${{{v}}} " for v in ("kernel_addr_r", "loadaddr") if v in env), "")
    sets = "".join(f"setenv {k} {v}; " for k, v in settings.items())
    return f"{sets}tftpboot {addr}{PROBE_FILE}"


def draft_name(name: str | None, profile: Profile | None, bench: Bench) -> str:
    for candidate in (name, profile.name if profile else None, bench.model, bench.name):
        if candidate and (safe := safe_name(candidate)):
            return safe
    return "new-board"


@contextlib.contextmanager
def _served(bench: Bench, tmp: Path, isolated_ack: bool) -> Iterator[BenchServer | None]:
    """The bench server on the bench's interface, serving the probe file (None: passive)."""
    if bench.link.mode != "interface":
        yield None
        return
    root = tmp / "root"
    (root / "boot" / PROBE_MODEL).mkdir(parents=True)
    (root / "boot" / PROBE_MODEL / PROBE_FILE).write_bytes(probe_file_bytes())
    link = HostLink(bench.link.interface, bench.link.server_ip, isolated_ack=isolated_ack)
    with link.attach(), BenchServer(ServeOn(None, link.name, None, isolated_ack), root,
                                    state=tmp / "server") as server:
        yield server


def _dialogue(d: Dialogue, keys: StopKeys, timeout: float, command_timeout: float,
              server: BenchServer | None) -> dict[str, object]:
    """Catch the prompt, read, test the network; what the network test did."""
    d.catch_prompt(keys, timeout)
    for command in READ_COMMANDS:
        d.run(command, command_timeout)
    if server is None:
        return {"ran": False, "why_not": "passive link: the probe sends nothing on it"}
    dhcp = d.run(DHCP_COMMAND, command_timeout)
    if "DHCP client bound" not in dhcp.text:
        return {"ran": True, "why_not": "no DHCP lease: TFTP not tried"}
    env = parse_env(next((e.text for e in d.exchanges if e.command == "printenv"), ""))
    for settings in TFTP_TRIES:
        d.run(tftp_command(settings, env), command_timeout)
    return {"ran": True}


def probe_bench(bench: str | Path | Bench, out: str | Path, *, profile: str | Path | None = None,
                name: str | None = None, keys: StopKeys | None = None,
                timeout: float = DEFAULT_TIMEOUT, command_timeout: float = COMMAND_TIMEOUT,
                isolated_ack: bool = False, force: bool = False) -> ProbeResult:
    """Probe the board of ``bench``; outputs in ``out``.  ProbeError (after writing them)
    when the bootloader never gave a prompt."""
    b = bench if isinstance(bench, Bench) else load_bench(bench)
    base = load_profile(profile) if profile is not None else None
    if b.console is None:
        raise ProbeError(f"bench {b.name}: no console in the bench file; the probe talks to "
                         "the bootloader over the board's serial console")
    if not Path(b.console.port).exists():
        raise ProbeError(f"console: {b.console.port} does not exist (is the USB-serial "
                         "adapter plugged in? `ls /dev/serial/by-id/`)")
    board = draft_name(name, base, b)
    error: ProbeError | None = None
    with output_dir(out, "probe", force=force) as stage, \
            tempfile.TemporaryDirectory(prefix="waltport-probe-") as tmp:
        console = SerialConsole(b.console.port, b.console.baud, stage / "console.log")
        dialogue = Dialogue(console)
        power = bench_power(b)
        records: list[TransferRecord] = []
        network: dict[str, object] = {"ran": False, "why_not": "no prompt"}
        boot_end = 0
        with _served(b, Path(tmp), isolated_ack) as server:
            console.start()
            try:
                power.on()
                network = _dialogue(dialogue, keys or StopKeys(), timeout, command_timeout, server)
            except ProbeError as err:
                error = err
            finally:
                try:
                    power.off()
                finally:
                    console.stop()
            if server is not None and server.transfer_log.exists():
                records = read_transfer_log(server.transfer_log)
        lines = [ln.text for ln in console.lines]
        first = dialogue.exchanges[0].sent if dialogue.exchanges else None
        boot_end = sum(1 for ln in console.lines if first is None or ln.time < first)
        transcript = Transcript(tuple(lines[:boot_end]), dialogue.prompt,
                                tuple(dialogue.exchanges))
        facts = with_wire(uboot_facts(transcript), records, PROBE_FILE)
        verdicts = uboot_verdicts(facts) + (profile_verdicts(base, facts) if base else ())
        draft = draft_profile(facts, board)
        text = render_draft(draft)
        draft_path = stage / f"{board}.yaml"
        problems = tuple(check_draft(text, draft_path.name))
        # No prompt, no facts: a draft would only be guesses.
        if dialogue.exchanges:
            write_text(draft_path, text)
        write_text(stage / "probe.json", json.dumps({
            "waltport": __version__, "bench": b.name, "bootloader": "uboot",
            "error": str(error) if error else None, "prompt": dialogue.prompt,
            "boot": list(transcript.boot), "exchanges": [e.to_json() for e in transcript.exchanges],
            "network": network, "tftp_server": [r.__dict__ for r in records],
            "facts": facts.to_json(), "verdicts": [v.to_json() for v in verdicts],
            "draft": {**draft.to_json(), "file": draft_path.name if dialogue.exchanges else None,
                      "check_problems": list(problems)},
        }, indent=2) + "\n")
    if error is not None:
        raise error
    dest = Path(out).resolve()
    return ProbeResult(dest, board, facts, verdicts, draft, dest / draft_path.name, problems)
