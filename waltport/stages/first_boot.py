"""Stage 04: boot the board until userspace (and SSH); timings and reliability.

The board is the virtual one in the lab (or its stand-in for a family the
lab cannot boot whole), or the real board of a bench file.  A stage the
bench cannot observe, or that needs the real board, is a skip with the
reason, never a pass.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from waltport.image.tarball import export_rootfs
from waltport.lab.benchboot import boot_bench
from waltport.lab.boot import boot_board
from waltport.lab.sequence import STAGES
from waltport.pipeline.plots import write_timeline
from waltport.pipeline.results import StageResult, read_result, result_path
from waltport.profile.load import load_profile
from waltport.stages._common import Recorder, run_stage
from waltport.stages.network import lab_name_for, needs_a_model
from waltport.util.paths import state_dir

STAGE = "first_boot"
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


def boot_facts(report: Mapping[str, Any]) -> dict[str, Any]:
    """Pure: what the summary needs from a BootReport's JSON."""
    vci: list[str] = []
    uci: list[str] = []
    files: list[dict[str, Any]] = []
    for boot in report.get("boots", []):
        for s in boot.get("stages", []):
            ev = s.get("evidence") or {}
            if s["name"] == "walt_dhcp":
                for value, seen in ((ev.get("vci"), vci), (ev.get("uci"), uci)):
                    if value and value not in seen:
                        seen.append(value)
            if s["name"] in ("second_stage_fetched", "kernel_fetched") and ev.get("bytes"):
                item = {"path": ev.get("file"), "bytes": ev["bytes"]}
                if item not in files:
                    files.append(item)
    boots = report.get("boots", [])
    return {"vci_seen": vci, "uci_seen": uci, "files_served": files, "boots": len(boots),
            "reached_userspace": sum(1 for b in boots if b.get("ok")),
            "reliability": report.get("success_rate"), "stage_timings": report.get("stages")}


def imported_image(run_dir: Path) -> str | None:
    """The image the image stage of this run imported, if it passed."""
    path = result_path(run_dir, "image")
    if not path.exists():
        return None
    res = read_result(path)
    return str(res.data.get("reference")) if res.status == "pass" and \
        res.data.get("reference") else None


def run(profile: str, out_dir: str, *, mode: str = "lab", boots: int = 1, lab_name: str = "",
        timeout: float = 120, model: str = "", bench: str = "",
        isolated: bool = False) -> StageResult:
    """Boot ``boots`` times in the lab (or on ``bench``); writes ``<out_dir>/first_boot.json``.

    ``model``: the sub-model to boot (e.g. ``pc-x86-32``: a CPU without long mode).
    ``bench``: a bench file: the real board on it boots (``isolated``:
    --i-know-this-network-is-isolated).
    """

    def body(rec: Recorder) -> str:
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
        image = imported_image(rec.out_dir)
        rec.data["image_root"] = f"exported from {image}" if image else \
            "built by the lab from the profile (no imported image in this run)"
        with tempfile.TemporaryDirectory(prefix="first-boot-", dir=state_dir()) as work:
            root = None
            if image:
                # Close the loop: boot exactly what the image stage imported.
                with rec.step("export"):
                    # Owners and set-ID bits kept, as a WalT server exports an image
                    # (a Debian image's services run as their users); ``work`` is 0700.
                    exported = export_rootfs(image, Path(work) / "rootfs", owners=True)
                root = exported.root
                if exported.findings:
                    rec.check("image export: every member written inside the root", False,
                              "; ".join(exported.findings), mandatory=False)
            with rec.step("boots"):
                if bench:
                    report = boot_bench(profile, bench, boots=boots, image_root=root,
                                        timeout=timeout, out_dir=dest, model=model or None,
                                        isolated_ack=isolated)
                else:
                    report = boot_board(profile, lab_name=lab_name_for(prof, lab_name, model),
                                        boots=boots, image_root=root, timeout=timeout,
                                        out_dir=dest, model=model or None)
        rj: dict[str, Any] = report.to_json()
        rec.data["target"] = report.target
        rec.data["stand_in"] = report.stand_in
        rec.data.update(boot_facts(rj))
        rec.data["boot"] = rj
        n, ok = len(report.runs), sum(1 for r in report.runs if r.ok)
        first = next((b for b in rj["boots"] if b["ok"]), rj["boots"][0] if rj["boots"] else {})
        for s in first.get("stages", []):
            if s["name"] in STAGE_TITLES:
                passed, evidence = stage_check(s)
                stand_in = "stand-in: " if report.stand_in and passed is not None else ""
                rec.check(STAGE_TITLES[s["name"]], passed, stand_in + evidence)
        for name, passed, evidence in node_checks(first):
            rec.check(name, passed, evidence, mandatory=False)
        failures = "; ".join(f"boot {b['index']} stopped before {b['failed_stage']}: "
                             f"{b.get('error') or ''}" for b in rj["boots"] if not b["ok"])
        rec.check(f"every boot passes every stage this bench observes ({ok}/{n})",
                  ok == n and n > 0,
                  failures or f"{ok} of {n} boot(s), model {report.model}, image "
                  f"{rec.data['image_root']}"
                  + (f"; stand-in: {report.stand_in}" if report.stand_in else ""))
        if (dest / "sdcard.img.md").is_file():
            # What the board booted: the medium's sidecar (content list, hashes), not the image.
            rec.artifact("boot medium", dest / "sdcard.img.md")
        if first and first.get("console_log"):
            rec.artifact("console", first["console_log"])
            rec.artifact("pcap", first["pcap"])
        rec.artifact("plot:timeline", write_timeline(rj["boots"], STAGES,
                                                     dest / "timeline.png"))
        return "" if ok == n else f"{n - ok} of {n} boot(s) failed"

    return run_stage(STAGE, out_dir, body)
