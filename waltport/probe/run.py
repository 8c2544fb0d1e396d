"""Edge: probe the board of a bench — power on, stop its bootloader, ask, test, draft.

Order of things (each undone in reverse, also on Ctrl-C): the output
directory is staged, the bench link gets its address and the bench server
serves a probe file on it, the serial console is opened, the board is
powered on; then the dialogue of the family whose countdown shows
(:mod:`waltport.probe.families`).  Only read-only commands are typed, plus
U-Boot's ``setenv`` of RAM variables, ``dhcp`` and ``tftpboot`` into the
board's own load address (``saveenv`` never), or iPXE's ``set``,
``ifconf`` and ``chain`` of a probe script that only prints a line.
The outputs (``probe.json``, ``console.log``, ``<name>.yaml``) are written
even when the bootloader never answered (then with the error), before the
error is raised.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from waltport._version import __version__
from waltport.errors import WaltportError
from waltport.lab.bench import Bench, load_bench
from waltport.lab.benchboot import bench_power
from waltport.lab.target.link import HostLink
from waltport.lab.target.serial import SerialConsole
from waltport.net.server import BenchServer, ServeOn
from waltport.net.tftp import TransferRecord, read_transfer_log
from waltport.probe.draft import Draft, check_draft, render_draft, safe_name
from waltport.probe.families import (
    PROBE_FILE,
    PROBE_MODEL,
    PROBE_SCRIPT,
    PROBE_SCRIPT_TEXT,
    Facts,
    families,
    probe_file_bytes,
)
from waltport.probe.session import Dialogue, ProbeError, StopKeys, visible
from waltport.probe.transcript import Transcript
from waltport.probe.verdicts import PROBLEM, Verdict
from waltport.profile.load import load_profile
from waltport.profile.model import Profile
from waltport.util.atomic import write_text
from waltport.util.outdir import output_dir

DEFAULT_TIMEOUT = 60.0
COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class ProbeResult:
    out: Path
    name: str
    bootloader: str
    facts: Facts
    verdicts: tuple[Verdict, ...]
    draft: Draft
    draft_path: Path
    draft_problems: tuple[str, ...]

    @property
    def problems(self) -> bool:
        return any(v.status == PROBLEM for v in self.verdicts)


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
    (root / "boot" / PROBE_MODEL / PROBE_SCRIPT).write_text(PROBE_SCRIPT_TEXT)
    link = HostLink(bench.link.interface, bench.link.server_ip, isolated_ack=isolated_ack)
    with link.attach(), BenchServer(ServeOn(None, link.name, None, isolated_ack), root,
                                    state=tmp / "server") as server:
        yield server


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
    error: WaltportError | None = None
    with output_dir(out, "probe", force=force) as stage, \
            tempfile.TemporaryDirectory(prefix="waltport-probe-") as tmp:
        console = SerialConsole(b.console.port, b.console.baud, stage / "console.log")
        dialogue = Dialogue(console)
        power = bench_power(b)
        records: list[TransferRecord] = []
        network: dict[str, object] = {"ran": False, "why_not": "no prompt"}
        registry = families(keys)
        family = registry["uboot"]
        with _served(b, Path(tmp), isolated_ack) as server:
            console.start()
            try:
                power.on()
                caught = dialogue.catch_prompt(tuple(f.keys for f in registry.values()), timeout)
                family = next(f for f in registry.values() if f.keys == caught)
                network = family.dialogue(dialogue, command_timeout, server is not None)
            except WaltportError as err:    # the outputs say how far it got
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
        transcript = Transcript(tuple(visible(t) for t in lines[:boot_end]), dialogue.prompt,
                                tuple(dialogue.exchanges))
        facts = family.facts(transcript, records)
        verdicts = family.verdicts(facts, base)
        draft = family.draft(facts, board)
        text = render_draft(draft)
        draft_path = stage / f"{board}.yaml"
        problems = tuple(check_draft(text, draft_path.name))
        # No prompt, no facts: a draft would only be guesses.
        if dialogue.exchanges:
            write_text(draft_path, text)
        write_text(stage / "probe.json", json.dumps({
            "waltport": __version__, "bench": b.name,
            "bootloader": family.keys.bootloader,
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
    return ProbeResult(dest, board, family.keys.bootloader, facts, verdicts, draft,
                       dest / draft_path.name, problems)
