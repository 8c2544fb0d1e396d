"""Stage 02: DHCP and TFTP on the wire — from the lab, a passive capture, or a pcap file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waltport.errors import UsageError
from waltport.pipeline.results import StageResult
from waltport.profile.load import load_profile
from waltport.stages._common import Recorder, engine, run_stage

STAGE = "network"


def _lab_capture(rec: Recorder, profile: str, lab_name: str, timeout: float) -> Path:
    boot_board = engine("waltport.lab.boot", "boot_board", "virtual lab boot")
    dest = rec.subdir("network")
    with rec.step("lab_boot"):
        report = boot_board(profile, lab_name=lab_name, image_root=None, boots=1,
                            timeout=timeout, out_dir=dest)
    rec.data["lab_boot"] = report.to_json()
    pcap = Path(getattr(report, "pcap", "") or dest / "capture.pcap")
    return pcap


def _interface_capture(rec: Recorder, interface: str, timeout: float) -> Path:
    capture = engine("waltport.net.capture", "Capture", "packet capture")
    if not interface:
        raise UsageError("mode=interface needs -p interface=<host interface>")
    pcap = rec.subdir("network") / "capture.pcap"
    with rec.step("capture"), capture(interface, pcap) as cap:
        cap.wait(timeout)
    return pcap


def _analysis_checks(rec: Recorder, analysis: dict[str, Any]) -> None:
    for v in analysis.get("verdicts", []):
        ok = v.get("ok")
        status = v.get("status")
        if status is not None:
            ok = None if status == "skip" else status == "pass"
        rec.check(str(v.get("name", "verdict")), ok, str(v.get("evidence", "")),
                  mandatory=bool(v.get("mandatory", True)))


def run(profile: str, out_dir: str, *, mode: str = "lab", interface: str = "", pcap: str = "",
        lab_name: str = "", timeout: float = 120) -> StageResult:
    """Analyse DHCP/TFTP for the board; writes ``<out_dir>/network.json``.

    ``mode``: ``lab`` (boot the virtual board against the bench server),
    ``interface`` (passive capture on a real board's host interface) or
    ``pcap`` (analyse an existing capture).
    """

    def body(rec: Recorder) -> str:
        prof = load_profile(profile)
        analyze = engine("waltport.net.analysis", "analyze_pcap", "pcap analysis")
        rec.data["mode"] = mode
        if mode == "pcap":
            if not pcap or not Path(pcap).is_file():
                raise UsageError(f"mode=pcap needs -p pcap=<existing file> (got {pcap!r})")
            capture_path = Path(pcap).resolve()
        elif mode == "interface":
            capture_path = _interface_capture(rec, interface, timeout)
        elif mode == "lab":
            capture_path = _lab_capture(rec, profile, lab_name or f"wp-{prof.name}"[:15],
                                        timeout)
        else:
            raise UsageError(f"mode {mode!r}: choose lab, interface or pcap")
        rec.artifact("pcap", capture_path)
        with rec.step("analyse"):
            analysis = analyze(capture_path, prof.all_models[0])
        aj = analysis.to_json()
        rec.data["analysis"] = aj
        _analysis_checks(rec, aj)
        plots = engine("waltport.net.plots", "ladder", "ladder diagram")
        dest = rec.subdir("network")
        with rec.step("plots"):
            plots(analysis, dest / "ladder.png")
        rec.artifact("plot:ladder", dest / "ladder.png")
        return ""

    return run_stage(STAGE, out_dir, body)
