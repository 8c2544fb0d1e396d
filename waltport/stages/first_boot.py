"""Stage 04: the board's boot until userspace (and SSH); timings and reliability.

The board is the virtual one in the lab (or its stand-in for a family the
lab cannot boot whole), or the real board of a bench file.  In a
``waltport run`` the boot judged here is the one the network stage made
(:mod:`waltport.stages._boot`): one boot per run.  A stage the bench cannot
observe, or that needs the real board, is a skip with the reason, never a
pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from waltport.evidence.facts import FetchedFile, FirstBootFacts
from waltport.evidence.recorder import Recorder, record_stage
from waltport.evidence.results import StageResult
from waltport.lab.plots import write_timeline
from waltport.lab.sequence import STAGES as BOOT_STAGES
from waltport.profile.load import load_profile, profile_digest
from waltport.stages._boot import BootAsk, boot, recorded_boot, run_image
from waltport.stages.network import lab_name_for, needs_a_model

STAGE_TITLES = {
    "first_dhcp": "firmware sends DHCP after power-on",
    "walt_dhcp": "DHCP with walt.node.<model> on the wire",
    "second_stage_fetched": "second stage fetched by TFTP",
    "kernel_fetched": "kernel (and initrd) fetched by TFTP",
    "kernel_started": "kernel started",
    "userspace": "userspace reached and boot announced",
    "image_userspace": "the image's own init started on its NFS root",
    "ssh_login": "SSH login to the node as root (key installed by the lab)",
}


def _evidence(stage: Mapping[str, Any]) -> str:
    ev = {k: v for k, v in (stage.get("evidence") or {}).items() if v not in (None, "", {})}
    when = f"at {stage['time']:.2f} s" if stage.get("time") is not None else "not reached"
    return "; ".join([when, *(f"{k}={v}" for k, v in ev.items())])


def stage_check(stage: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Pure: a boot stage as a check (None: skipped, with the reason as evidence)."""
    if stage.get("status") in ("not observable", "needs the board"):
        return None, str(stage.get("reason") or stage["status"])
    return stage.get("time") is not None, _evidence(stage)


def node_checks(boot: Mapping[str, Any]) -> list[tuple[str, bool | None, str]]:
    """Pure: what the node said of itself after the SSH login, as checks.

    A tool the image does not have (apt, systemd in the minimal image) is a
    skip with that reason; a ``degraded`` system names its failed units.
    """
    login = next((s for s in boot.get("stages", []) if s.get("name") == "ssh_login"), None)
    node = ((login or {}).get("evidence") or {}).get("node")
    if not isinstance(node, Mapping):
        return []
    if "error" in node:
        return [("the node answers after login", False, str(node["error"]))]
    apt, state = str(node.get("apt", "absent")), str(node.get("systemd", "absent"))
    failed = [str(u) for u in node.get("failed_units") or []]
    rows: list[tuple[str, bool | None, str]] = [
        ("apt-get answers on the node", None if apt == "absent" else True,
         "this image has no apt (minimal base)" if apt == "absent"
         else f"apt-get --version: {apt}")]
    if state == "absent":
        rows.append(("systemd reports the system running", None,
                     "this image's init is not systemd"))
    else:
        rows.append(("systemd reports the system running", state == "running",
                     f"systemctl is-system-running: {state}"
                     + (f"; failed units: {', '.join(failed)}" if failed else "")))
    return rows


def boot_facts(report: Mapping[str, Any]) -> FirstBootFacts:
    """Pure: what the summary needs from a BootReport's JSON."""
    vci: list[str] = []
    uci: list[str] = []
    files: list[FetchedFile] = []
    for one in report.get("boots", []):
        for s in one.get("stages", []):
            ev = s.get("evidence") or {}
            if s["name"] == "walt_dhcp":
                for value, seen in ((ev.get("vci"), vci), (ev.get("uci"), uci)):
                    if value and value not in seen:
                        seen.append(value)
            if s["name"] in ("second_stage_fetched", "kernel_fetched") and ev.get("bytes"):
                item = FetchedFile(ev.get("file"), ev["bytes"])
                if item not in files:
                    files.append(item)
    boots = report.get("boots", [])
    return FirstBootFacts(vci_seen=tuple(vci), uci_seen=tuple(uci), files_served=tuple(files),
                          boots=len(boots),
                          reached_userspace=sum(1 for b in boots if b.get("ok")),
                          reliability=report.get("success_rate"),
                          stage_timings=report.get("stages"))


def run(profile: str, out_dir: str, *, mode: str = "lab", boots: int = 1, lab_name: str = "",
        timeout: float = 120, model: str = "", bench: str = "",
        isolated: bool = False) -> StageResult:
    """Judge ``boots`` boots in the lab (or on ``bench``); writes ``<out_dir>/first_boot.json``.

    The boots are the ones the network stage of this run made and recorded
    (:mod:`waltport.stages._boot`: one boot per run, of the image the image
    stage imported); with none recorded for the same image, model, bench and
    count, the board boots here.  ``model``: the sub-model to boot (e.g.
    ``pc-x86-32``: a CPU without long mode).  ``bench``: a bench file: the
    real board on it boots (``isolated``: --i-know-this-network-is-isolated).
    """

    def body(rec: Recorder[FirstBootFacts]) -> str:
        prof = load_profile(profile)
        if mode != "lab" and not bench:
            rec.check("first boot in the virtual lab", None,
                      f"mode={mode}: a real board's boot is judged from its capture "
                      "(network stage)", mandatory=False)
            return f"not run in mode {mode}"
        if not bench and needs_a_model(prof, model):
            rec.check("first boot per model", None,
                      f"{prof.name} reads its sub-model from the real board: run with --models "
                      "for a stand-in per model, or --bench for the real board",
                      mandatory=False)
            return "no model asked: nothing to boot in the lab"
        dest = rec.subdir("first_boot")
        ask = BootAsk(profile, run_image(rec.out_dir), boots, lab_name, timeout, model, bench,
                      isolated, profile_digest(prof))
        shared = recorded_boot(rec.out_dir, ask)
        rec.facts = replace(rec.facts, image_root=ask.image_root)
        if shared is not None:
            rj, where = shared
            source = f"the network stage's boot ({where})"
        else:
            report = boot(rec, ask, dest, lab_name_for(prof, lab_name, model))
            rj = report.to_json()
            source = "booted by this stage (no boot recorded by the network stage of this run)"
        rec.facts = replace(rec.facts, boot_source=source)
        return _judge(rec, rj, dest)

    return record_stage(FirstBootFacts, out_dir, body)


def _judge(rec: Recorder[FirstBootFacts], rj: dict[str, Any], dest: Path) -> str:
    """Checks, facts and plots from a boot report's JSON (:meth:`BootReport.to_json`)."""
    boots: list[dict[str, Any]] = list(rj.get("boots") or [])
    stand_in = rj.get("stand_in")
    found = boot_facts(rj)
    rec.facts = replace(rec.facts, target=rj.get("target"), stand_in=stand_in,
                        vci_seen=found.vci_seen, uci_seen=found.uci_seen,
                        files_served=found.files_served, boots=found.boots,
                        reached_userspace=found.reached_userspace,
                        reliability=found.reliability, stage_timings=found.stage_timings,
                        boot=rj)
    n, ok = len(boots), sum(1 for b in boots if b.get("ok"))
    first = next((b for b in boots if b.get("ok")), boots[0] if boots else {})
    for s in first.get("stages", []):
        if s["name"] in STAGE_TITLES:
            passed, evidence = stage_check(s)
            prefix = "stand-in: " if stand_in and passed is not None else ""
            rec.check(STAGE_TITLES[s["name"]], passed, prefix + evidence)
    for name, passed, evidence in node_checks(first):
        rec.check(name, passed, evidence, mandatory=False)
    failures = "; ".join(f"boot {b['index']} stopped before {b['failed_stage']}: "
                         f"{b.get('error') or ''}" for b in boots if not b.get("ok"))
    rec.check(f"every boot passes every stage this bench observes ({ok}/{n})",
              ok == n and n > 0,
              failures or f"{ok} of {n} boot(s), model {rj.get('model')}, image "
              f"{rec.facts.image_root}" + (f"; stand-in: {stand_in}" if stand_in else ""))
    medium = Path(str(rj.get("out_dir"))) / "sdcard.img.md"
    if medium.is_file():
        # What the board booted: the medium's sidecar (content list, hashes), not the image.
        rec.artifact("boot medium", medium)
    if first and first.get("console_log"):
        rec.artifact("console", first["console_log"])
        rec.artifact("pcap", first["pcap"])
    rec.artifact("plot:timeline", write_timeline(boots, BOOT_STAGES, dest / "timeline.png"))
    return "" if ok == n else f"{n - ok} of {n} boot(s) failed"
