"""The papermill runner with real kernels: failures, timeouts, kernel death, skips, batches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError
from pipeline_fixtures import BOARDS, _jupyter_dirs, jupyter_root, recording_cell, write_notebook  # noqa: F401

from waltport.cli import main
from waltport.evidence.results import read_result
from waltport.pipeline.registry import StageSpec
from waltport.pipeline.runner import (
    StopKind,
    describe_failure,
    entry_params,
    notebook_parameters,
    run_profile,
)

pytestmark = pytest.mark.slow


def test_failures_are_recorded_later_stages_skipped_and_reports_written(tmp_path: Path) -> None:
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_notebook(nbs / "a.ipynb", recording_cell("a"))
    write_notebook(nbs / "b.ipynb", recording_cell("b"), "raise ValueError('bad board')")
    write_notebook(nbs / "c.ipynb", recording_cell("c"))
    write_notebook(nbs / "hang.ipynb", "import time\ntime.sleep(600)")
    write_notebook(nbs / "die.ipynb", "import os\nos._exit(3)")
    write_notebook(nbs / "opt.ipynb", recording_cell("opt", ok=False))
    stages = (StageSpec("a", "a.ipynb"), StageSpec("b", "b.ipynb", ("a",)),
              StageSpec("c", "c.ipynb", ("b",)), StageSpec("hang", "hang.ipynb", ("a",)),
              StageSpec("die", "die.ipynb", ("a",)), StageSpec("opt", "opt.ipynb", (), False))
    out = tmp_path / "run"
    seen: list[tuple[str, str]] = []
    outcome = run_profile(BOARDS / "qemu-arm64.yaml", out, stages=stages, notebooks=nbs,
                          cell_timeout=3, progress=lambda b, s, st: seen.append((s, st)))

    status = {n: read_result(out / f"{n}.json").status for n in ("a", "b", "c", "hang", "die")}
    assert status == {"a": "pass", "b": "error", "c": "skip", "hang": "error", "die": "error"}
    b = read_result(out / "b.json")
    # What the stage recorded before the failing cell is kept, and the cause is named.
    assert [c.status for c in b.checks] == ["pass", "error"]
    assert "ValueError: bad board" in b.message
    assert "needs stage b, which is error" in read_result(out / "c.json").message
    assert "longer than 3 s" in read_result(out / "hang.json").message
    assert "kernel died" in read_result(out / "die.json").message
    assert ("c", "skip") in seen and ("a", "pass") in seen
    # Executed notebooks are kept (the skipped one was never run).
    assert (out / "b.ipynb").exists() and (out / "hang.ipynb").exists()
    assert not (out / "c.ipynb").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert outcome.exit_code == 1 and summary["ok"] is False
    assert {s["name"]: s["status"] for s in summary["stages"]}["b"] == "error"
    md = (out / "report.md").read_text()
    assert "bad board" in md and "✔" in md
    assert (out / "report.html").exists() and (out / "junit.xml").exists()


def test_optional_failure_does_not_fail_the_run(tmp_path: Path) -> None:
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_notebook(nbs / "a.ipynb", recording_cell("a"))
    write_notebook(nbs / "opt.ipynb", recording_cell("opt", ok=False))
    stages = (StageSpec("a", "a.ipynb"), StageSpec("opt", "opt.ipynb", (), False))
    outcome = run_profile(BOARDS / "qemu-arm64.yaml", tmp_path / "run", stages=stages,
                          notebooks=nbs)
    # The check is mandatory inside an optional stage: the stage fails, the run does not.
    assert read_result(tmp_path / "run" / "opt.json").status == "fail"
    assert outcome.exit_code == 0 and outcome.summary["ok"] is True


def test_run_command_on_the_real_notebooks(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "arm"
    rc = main(["run", str(BOARDS / "qemu-arm64.yaml"), "--out", str(out),
               "--stages", "board,bootloader,report", "--no-progress"])
    assert rc == 0, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and summary["board"]["name"] == "qemu-arm64"
    assert [s["name"] for s in summary["stages"]] == ["board", "bootloader"]
    hashes = {a["file"]: a["sha256"] for a in summary["artifacts"]}
    assert "bootloader/start.uboot" in hashes
    for nb in ("00-board.ipynb", "01-bootloader.ipynb", "05-report.ipynb"):
        assert (out / nb).exists()
    # The report notebook itself ran to the end (an optional stage: the run would pass anyway).
    assert read_result(out / "report.json").status == "pass"
    assert "report.html" in capsys.readouterr().out


def test_middle_stage_failure_gives_report_with_earlier_evidence(tmp_path: Path) -> None:
    out = tmp_path / "broken"
    rc = main(["run", str(BOARDS / "qemu-x86-64.yaml"), "--out", str(out), "--no-progress",
               "--stages", "board,bootloader,network,first_boot,report",
               "-p", "mode=pcap", "-p", f"pcap={tmp_path / 'missing.pcap'}"])
    assert rc == 1
    summary = json.loads((out / "summary.json").read_text())
    status = {s["name"]: s["status"] for s in summary["stages"]}
    assert status == {"board": "pass", "bootloader": "pass", "network": "error",
                      "first_boot": "skip"}
    md = (out / "report.md").read_text()
    assert "missing.pcap" in md and "walt.node.pc-x86-64" in md


def test_batch_runs_boards_in_parallel_processes(tmp_path: Path) -> None:
    out = tmp_path / "batch"
    rc = main(["run", str(BOARDS / "qemu-arm64.yaml"), str(BOARDS / "qemu-x86-64.yaml"),
               "--out", str(out), "--stages", "board,bootloader", "-j", "2", "--no-progress"])
    assert rc == 0
    top = json.loads((out / "summary.json").read_text())
    assert top["schema"] == "waltport.batch/1"
    assert [r["board"] for r in top["runs"]] == ["qemu-arm64", "qemu-x86-64"]
    for board in ("qemu-arm64", "qemu-x86-64"):
        assert json.loads((out / board / "summary.json").read_text())["ok"]
    html = (out / "report.html").read_text()
    assert 'id="board-qemu-arm64"' in html and 'id="board-qemu-x86-64"' in html


def test_submodels_run_as_separate_batch_entries(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # One family, two sub-models: each its own entry (board/bootloader here, cheap).
    out = tmp_path / "pc"
    rc = main(["run", str(BOARDS / "qemu-x86-64.yaml"), "--models", "pc-x86-64,pc-x86-32",
               "--out", str(out), "--stages", "board,bootloader", "-j", "2", "--no-progress"])
    assert rc == 0, capsys.readouterr()
    top = json.loads((out / "summary.json").read_text())
    assert [(r["dir"], r["model"], r["ok"]) for r in top["runs"]] == [
        ("qemu-x86-64-pc-x86-64", "pc-x86-64", True), ("qemu-x86-64-pc-x86-32", "pc-x86-32", True)]
    board = json.loads((out / "qemu-x86-64-pc-x86-32" / "summary.json").read_text())["board"]
    assert board["model"] == "pc-x86-32" and board["arch"] == "x86"
    assert board["identifiers"] == ["walt.node.pc-x86-32"]
    assert json.loads((out / "qemu-x86-64-pc-x86-32" / "run.json").read_text())[
        "parameters"]["model"] == "pc-x86-32"
    html = (out / "report.html").read_text()
    assert 'id="board-qemu-x86-64-pc-x86-32"' in html and 'id="board-qemu-x86-64-pc-x86-64"' in html
    assert "(pc-x86-32)" in capsys.readouterr().out
    assert main(["run", str(BOARDS / "qemu-x86-64.yaml"), "--models", "pc-x86-16",
                 "--out", str(out), "--no-progress"]) == 2


def test_batch_entries_never_share_a_lab() -> None:
    # Entries run at once: one lab name given for the batch becomes one per entry.
    assert entry_params({"lab_name": "wpob-1234", "boots": 2}, "pc-x86-32", 1, 2) == \
        {"lab_name": "wpob-1234-1", "boots": 2, "model": "pc-x86-32"}
    assert entry_params({"lab_name": "wpob-1234"}, None, 0, 1) == {"lab_name": "wpob-1234"}
    assert entry_params({}, None, 0, 2) == {}


def test_why_a_notebook_stopped_is_typed_from_the_error_never_its_message() -> None:
    def cell(ename: str) -> PapermillExecutionError:
        return PapermillExecutionError(0, 3, "x()", ename, "boom", [])

    stops = {kind: describe_failure(err, 60) for kind, err in (
        ("ctrl-c", KeyboardInterrupt()), ("ctrl-c in kernel", cell("KeyboardInterrupt")),
        ("timeout", CellTimeoutError("interrupted (Ctrl-C)")),   # the words decide nothing
        ("dead", DeadKernelError("kernel died")), ("cell", cell("ValueError")),
        ("other", RuntimeError("interrupted (Ctrl-C)")))}
    assert {k: s.kind for k, s in stops.items()} == {
        "ctrl-c": StopKind.INTERRUPTED, "ctrl-c in kernel": StopKind.INTERRUPTED,
        "timeout": StopKind.CELL_TIMEOUT, "dead": StopKind.DEAD_KERNEL,
        "cell": StopKind.CELL_ERROR, "other": StopKind.OTHER}
    assert stops["cell"].why == "cell 3 raised ValueError: boom"
    assert stops["timeout"].why == "a cell ran longer than 60 s: the kernel was stopped"


def test_parameters_cell_is_read_without_running(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "p.ipynb", "pass", params='profile = ""\nboots = 2')
    assert notebook_parameters(nb) == {"profile": "", "boots": 2}


def test_ctrl_c_stops_the_run_writes_the_reports_and_leaves_no_kernel(tmp_path: Path) -> None:
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_notebook(nbs / "a.ipynb", recording_cell("a"))
    write_notebook(nbs / "slow.ipynb", "import os, time\nopen('kernel.pid', 'w').write("
                   "str(os.getpid()))\ntime.sleep(120)")
    write_notebook(nbs / "b.ipynb", recording_cell("b"))
    out = tmp_path / "run"
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from waltport.cli import main\nfrom waltport.pipeline import runner\n"
        "from waltport.pipeline.registry import StageSpec as S\n"
        "st = (S('a', 'a.ipynb'), S('slow', 'slow.ipynb'), S('b', 'b.ipynb'))\n"
        f"try:\n    runner.run_profile({str(BOARDS / 'qemu-arm64.yaml')!r}, {str(out)!r}, "
        f"stages=st, notebooks=Path({str(nbs)!r}))\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n")
    # Its own session, like a terminal's foreground job: Ctrl-C reaches the kernel too.
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 60
    while not (out / "kernel.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    kernel_pid = int((out / "kernel.pid").read_text())
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert read_result(out / "slow.json").message.endswith("interrupted (Ctrl-C)")
    assert read_result(out / "b.json").status == "skip"
    assert json.loads((out / "summary.json").read_text())["ok"] is False
    time.sleep(1)
    assert not Path(f"/proc/{kernel_pid}").exists(), "the kernel outlived the run"
