"""Stage 02: DHCP and TFTP on the wire — from the lab, a passive capture, or a pcap file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from waltport.errors import UsageError
from waltport.pipeline.results import StageResult
from waltport.profile.load import load_profile
from waltport.profile.model import Profile
from waltport.stages._common import Recorder, engine, run_stage

STAGE = "network"
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


def _lab_capture(rec: Recorder, profile: str, prof: Profile, lab_name: str,
                 timeout: float, *, model: str) -> tuple[Path, str]:
    boot_board = engine("waltport.lab.boot", "boot_board", "virtual lab boot")
    with rec.step("lab_boot"):
        report = boot_board(profile, lab_name=lab_name_for(prof, lab_name, model), boots=1,
                            timeout=timeout, out_dir=rec.subdir("network/lab"),
                            model=model or None)
    run = report.runs[0]
    rec.artifact("console", run.console_log)
    rec.data["lab_boot"] = {"ok": run.ok, "failed_stage": run.failed_stage, "error": run.error}
    return Path(run.pcap), report.model


def _interface_capture(rec: Recorder, interface: str, timeout: float) -> Path:
    capture = engine("waltport.net.capture", "Capture", "packet capture")
    if not interface:
        raise UsageError("mode=interface needs -p interface=<host interface the board is on>")
    pcap = rec.subdir("network") / "capture.pcap"
    # Passive: tcpdump only listens; the board is served by the real WalT server.
    with rec.step("capture"), capture(None, interface, pcap):
        time.sleep(timeout)
    return pcap


def wire_facts(analysis: dict[str, Any]) -> dict[str, Any]:
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
    files = [{"path": t["file"], "bytes": t["bytes"], "complete": t["complete"],
              "client": t["client"], "seconds": t["duration"], "blksize": t["blksize"]}
             for t in analysis.get("tftp", [])]
    return {"vci_seen": vci, "uci_seen": uci, "files_served": files}


def dhcp_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """Pure: one row per DHCP message, for the notebook and report tables."""
    return [{"time": m["time"], "xid": tx["xid"], "type": m["type"], "from": m["src"],
             "mac": m["mac"], "vci": m["vci"], "uci": m["uci"], "yiaddr": m["yiaddr"],
             "file": m["file"]} for tx in analysis.get("dhcp", []) for m in tx["messages"]]


def run(profile: str, out_dir: str, *, mode: str = "lab", interface: str = "", pcap: str = "",
        lab_name: str = "", timeout: float = 120, model: str = "") -> StageResult:
    """Analyse DHCP/TFTP for the board; writes ``<out_dir>/network.json``.

    ``model``: the sub-model expected on the wire (and booted in the lab).

    ``mode``: ``lab`` (boot the virtual board against the bench server),
    ``interface`` (passive capture on a real board's host interface) or
    ``pcap`` (analyse an existing capture).
    """

    def body(rec: Recorder) -> str:
        prof = load_profile(profile)
        analyze = engine("waltport.net.analysis", "analyze_pcap", "pcap analysis")
        expected: str | None = model or (prof.all_models[0] if len(prof.all_models) == 1
                                         else None)
        rec.data["mode"] = mode
        if mode == "pcap":
            if not pcap or not Path(pcap).is_file():
                raise UsageError(f"mode=pcap needs -p pcap=<existing capture> (got {pcap!r})")
            capture_path = Path(pcap).resolve()
        elif mode == "interface":
            capture_path = _interface_capture(rec, interface, timeout)
        elif mode == "lab":
            capture_path, expected = _lab_capture(rec, profile, prof, lab_name, timeout,
                                                  model=model)
        else:
            raise UsageError(f"mode {mode!r}: choose lab, interface or pcap")
        rec.artifact("pcap", capture_path)
        with rec.step("analyse"):
            analysis = analyze(capture_path, expected)
        aj = analysis.to_json()
        rec.data["analysis"] = aj
        rec.data.update(wire_facts(aj))
        rec.data["dhcp_rows"] = dhcp_rows(aj)
        for v in aj.get("verdicts", []):
            rec.check(VERDICT_TITLES.get(v["name"], v["name"]), bool(v["ok"]),
                      str(v["evidence"]), mandatory=v["name"] not in OPTIONAL_VERDICTS)
        ladder = engine("waltport.net.plots", "ladder", "ladder diagram")
        timeline = engine("waltport.net.plots", "transfer_timeline", "transfer timeline")
        dest = rec.subdir("network")
        with rec.step("plots"):
            rec.artifact("plot:ladder", ladder(analysis, dest / "ladder.png"))
            if aj.get("tftp"):
                rec.artifact("plot:tftp", timeline(analysis, dest / "tftp.png"))
        return ""

    return run_stage(STAGE, out_dir, body)
