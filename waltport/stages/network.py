"""Stage 02: DHCP and TFTP on the wire — from the lab, a real board's bench, a capture, a pcap.

In the lab a family the virtual boards cannot boot whole (sub-model read from
a board variable, the board's dtb) is proven by a stand-in
(:mod:`waltport.lab.standin`): its evidence is marked as such in the stage
data and in every check.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from waltport.errors import UsageError
from waltport.evidence.facts import JsonObject, NetworkFacts, TftpTransfer
from waltport.evidence.recorder import Recorder, record_stage
from waltport.evidence.results import StageResult
from waltport.lab.boot import BootReport
from waltport.lab.imageroot import ImageRootError, lab_model
from waltport.net.analysis import analyze_pcap
from waltport.net.capture import Capture
from waltport.net.plots import ladder, transfer_timeline
from waltport.profile.load import load_profile, profile_digest
from waltport.profile.model import Profile
from waltport.stages._boot import BootAsk, boot, boot_record, first_boot_follows, run_image

VERDICT_TITLES = {
    "dhcp-identifier": "DHCP request carries walt.node.<model> (VCI/UCI)",
    "first-stage-script": "second-stage script served by TFTP, completely",
    "boot-notification": "node announced its boot to the server",
}
OPTIONAL_VERDICTS = {"boot-notification"}   # judged by the first-boot stage


def lab_name_for(profile: Profile, lab_name: str = "", model: str = "") -> str:
    """A network namespace per board (and sub-model), so parallel batch runs never share a lab."""
    if lab_name:
        return lab_name
    if not model:
        return f"wp-{profile.name}"[:21].rstrip("-")
    tag = hashlib.sha256(model.encode()).hexdigest()[:4]
    return f"{f'wp-{profile.name}'[:16].rstrip('-')}-{tag}"


def _record_boot(rec: Recorder[NetworkFacts], report: BootReport) -> tuple[Path, str]:
    run = report.runs[0]
    if run.console_log:
        rec.artifact("console", run.console_log)
    rec.facts = replace(rec.facts, lab_boot={"ok": run.ok, "failed_stage": run.failed_stage,
                                             "error": run.error, "target": report.target},
                        stand_in=report.stand_in)
    if report.stand_in:
        fetched = next(s for s in run.stages if s.name == "second_stage_fetched")
        then = fetched.evidence.get("then_requested")
        asked = [str(f) for f in then] if isinstance(then, list) else []
        rec.check("second stage executed by the real bootloader (it asked for the next file)",
                  bool(asked), f"stand-in: after {fetched.evidence.get('file')} the board "
                  f"requested {', '.join(asked) or 'nothing'}")
        rec.check("the board's own kernel, dtb and userspace", None,
                  f"needs the board: {report.stand_in}", mandatory=False)
    return Path(run.pcap), report.model


def _boot_capture(rec: Recorder[NetworkFacts], prof: Profile, ask: BootAsk) -> tuple[Path, str]:
    """The run's boot (:mod:`waltport.stages._boot`): its first boot's capture is judged here."""
    dest = rec.subdir("network/bench" if ask.bench else "network/lab")
    rec.facts = replace(rec.facts, image_root=ask.image_root)
    report = boot(rec, ask, dest, lab_name_for(prof, ask.lab_name, ask.model))
    rec.facts = replace(rec.facts, bench=report.target if ask.bench else None,
                        boot=boot_record(rec.out_dir, ask, report))
    return _record_boot(rec, report)


def needs_a_model(prof: Profile, model: str) -> bool:
    """A family the lab cannot pick a model of, and none asked: stand-ins need ``--models``."""
    if model or len(prof.all_models) == 1:
        return False
    try:
        lab_model(prof)
    except ImageRootError:
        return True
    return False


def _interface_capture(rec: Recorder[NetworkFacts], interface: str, timeout: float) -> Path:
    if not interface:
        raise UsageError("mode=interface needs -p interface=<host interface the board is on>")
    pcap = rec.subdir("network") / "capture.pcap"
    # Passive: tcpdump only listens; the board is served by the real WalT server.
    with rec.step("capture"), Capture(None, interface, pcap):
        time.sleep(timeout)
    return pcap


def wire_facts(analysis: Mapping[str, Any]) -> NetworkFacts:
    """Pure: VCI/UCI the clients sent and the files served, from the analysis JSON."""
    vci: list[str] = []
    uci: list[str] = []
    for tx in analysis.get("dhcp", []):
        for m in tx.get("messages", []):
            if m.get("src") == "server":
                continue
            for value, seen in ((m.get("vci"), vci), (m.get("uci"), uci)):
                if value and value not in seen:
                    seen.append(value)
    files = tuple(TftpTransfer(t["file"], t["bytes"], t["complete"], t["client"],
                               t["duration"], t["blksize"]) for t in analysis.get("tftp", []))
    return NetworkFacts(vci_seen=tuple(vci), uci_seen=tuple(uci), files_served=files)


def dhcp_rows(analysis: Mapping[str, Any]) -> list[JsonObject]:
    """Pure: one row per DHCP message, for the notebook and report tables."""
    return [{"time": m["time"], "xid": tx["xid"], "type": m["type"], "from": m["src"],
             "mac": m["mac"], "vci": m["vci"], "uci": m["uci"], "yiaddr": m["yiaddr"],
             "file": m["file"]} for tx in analysis.get("dhcp", []) for m in tx["messages"]]


def run(profile: str, out_dir: str, *, mode: str = "lab", interface: str = "", pcap: str = "",
        lab_name: str = "", timeout: float = 120, model: str = "", bench: str = "",
        isolated: bool = False, boots: int = 1) -> StageResult:
    """Analyse DHCP/TFTP for the board; writes ``<out_dir>/network.json``.

    ``model``: the sub-model expected on the wire (and booted in the lab).

    ``mode``: ``lab`` (boot the virtual board against the bench server, or a
    stand-in for a family the lab cannot boot whole), ``interface`` (passive
    capture on a real board's host interface) or ``pcap`` (analyse an
    existing capture).  ``bench``: a bench file; the real board on it is
    booted instead (``isolated``: --i-know-this-network-is-isolated).

    The boot is the run's only one (:mod:`waltport.stages._boot`): of the
    image this run's image stage imported, if any, recorded for the
    first-boot stage to judge; ``boots`` times when that stage follows in
    this run (its reliability figures), else once.  The first boot's capture
    is analysed here.
    """

    def body(rec: Recorder[NetworkFacts]) -> str:
        prof = load_profile(profile)
        if not bench and mode == "lab" and needs_a_model(prof, model):
            rec.check("stand-in evidence per model", None,
                      f"{prof.name} reads its sub-model from the real board: run with "
                      f"--models (e.g. --models {','.join(prof.all_models[:2])}) for a "
                      "stand-in run per model, or --bench for the real board", mandatory=False)
            return "no model asked: nothing to boot in the lab"
        expected: str | None = model or (prof.all_models[0] if len(prof.all_models) == 1
                                         else None)
        rec.facts = replace(rec.facts, mode="bench" if bench else mode)
        run_dir = rec.out_dir
        ask = BootAsk(profile, run_image(run_dir), boots if first_boot_follows(run_dir) else 1,
                      lab_name, timeout, model, bench, isolated, profile_digest(prof))
        if bench:
            capture_path, expected = _boot_capture(rec, prof, ask)
        elif mode == "pcap":
            if not pcap or not Path(pcap).is_file():
                raise UsageError(f"mode=pcap needs -p pcap=<existing capture> (got {pcap!r})")
            capture_path = Path(pcap).resolve()
        elif mode == "interface":
            capture_path = _interface_capture(rec, interface, timeout)
        elif mode == "lab":
            capture_path, expected = _boot_capture(rec, prof, ask)
        else:
            raise UsageError(f"mode {mode!r}: choose lab, interface or pcap")
        rec.artifact("pcap", capture_path)
        with rec.step("analyse"):
            analysis = analyze_pcap(capture_path, expected)
        aj: dict[str, Any] = analysis.to_json()
        wire = wire_facts(aj)
        rec.facts = replace(rec.facts, analysis=aj, vci_seen=wire.vci_seen,
                            uci_seen=wire.uci_seen, files_served=wire.files_served,
                            dhcp_rows=tuple(dhcp_rows(aj)))
        stand_in = rec.facts.stand_in
        for v in aj.get("verdicts", []):
            title = VERDICT_TITLES.get(v["name"], v["name"])
            if stand_in and v["name"] in OPTIONAL_VERDICTS and not v["ok"]:
                rec.check(title, None, f"needs the board: {stand_in}", mandatory=False)
                continue
            evidence = f"stand-in: {v['evidence']}" if stand_in else str(v["evidence"])
            rec.check(title, bool(v["ok"]), evidence,
                      mandatory=v["name"] not in OPTIONAL_VERDICTS)
        dest = rec.subdir("network")
        with rec.step("plots"):
            rec.artifact("plot:ladder", ladder(analysis, dest / "ladder.png"))
            if aj.get("tftp"):
                rec.artifact("plot:tftp", transfer_timeline(analysis, dest / "tftp.png"))
        return ""

    return record_stage(NetworkFacts, out_dir, body)
