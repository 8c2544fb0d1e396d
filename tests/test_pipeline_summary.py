"""summary.json assembly, tool versions from the real binaries, junit.xml."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pipeline_fixtures import BOARDS

from waltport.evidence.facts import BootloaderFacts, ImageFacts
from waltport.evidence.results import Check, StageResult
from waltport.pipeline.junit import junit_xml
from waltport.pipeline.registry import PIPELINE_STAGES
from waltport.pipeline.summary import StageEntry, build_summary, import_commands, is_ok
from waltport.pipeline.versions import UBOOT_BINARY, collect_versions, uboot_version_from_binary
from waltport.stages import board, bootloader


@pytest.fixture(scope="module")
def real_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StageResult]:
    out = tmp_path_factory.mktemp("run")
    prof = str(BOARDS / "qemu-x86-64.yaml")
    net = StageResult("network", "error",
                      (Check("network engine", "error", True, "not available: capture"),),
                      message="not available: capture")
    return {"board": board.run(prof, str(out)), "bootloader": bootloader.run(prof, str(out)),
            "network": net}


def test_summary_from_real_stage_results(real_results: dict[str, StageResult]) -> None:
    s = build_summary(real_results, stages=[st for st in PIPELINE_STAGES if st.name != "report"],
                      versions={"qemu": "x"}, parameters={"mode": "lab"},
                      run_started_at="2026-12-02T10:00:00Z", generated_at="2026-12-02T10:01:00Z",
                      epoch=1700000000)
    assert s["schema"] == "waltport.summary/1"
    # The real time of the run, and apart from it the clock the artifacts saw.
    assert (s["run_started_at"], s["generated_at"]) == ("2026-12-02T10:00:00Z",
                                                         "2026-12-02T10:01:00Z")
    assert s["source_date_epoch"] == 1700000000
    assert [a["file"] for a in s["boot_artifacts"]] == [
        a.file for a in real_results["bootloader"].facts(BootloaderFacts).artifacts or ()]
    assert s["board"]["name"] == "qemu-x86-64"
    assert s["models"] == ["pc-x86-64", "pc-x86-32"]
    assert s["board"]["identifiers"] == ["walt.node.pc-x86-64", "walt.node.pc-x86-32"]
    status = {e["name"]: e["status"] for e in s["stages"]}
    assert status == {"board": "pass", "bootloader": "pass", "network": "error",
                      "image": "error", "first_boot": "error"}   # not run: no result
    assert s["ok"] is False and s["exit_code"] == 1
    assert any(r["stage"] == "bootloader" and r["status"] == "pass" for r in s["requirements"])


def test_is_ok_ignores_optional_stages_and_checks() -> None:
    def stage(status: str, mandatory: bool, checks: list[tuple[str, bool]]) -> StageEntry:
        return StageEntry("s", status, mandatory=mandatory,  # type: ignore[arg-type]
                          checks=tuple(Check("c", s, m) for s, m in checks))  # type: ignore[arg-type]
    assert is_ok([stage("pass", True, [("pass", True), ("fail", False)])])
    assert is_ok([stage("pass", True, []), stage("fail", False, [("fail", True)])])
    assert not is_ok([stage("skip", True, [])])
    assert not is_ok([stage("pass", True, [("error", True)])])


@pytest.mark.skipif(not UBOOT_BINARY.exists(), reason="u-boot-qemu not installed")
def test_versions_read_from_the_real_tools() -> None:
    v = collect_versions()
    assert str(v["u-boot"]).startswith("U-Boot 2023.01")
    assert "QEMU emulator version" in str(v["qemu-system-aarch64"])
    assert "podman version" in str(v["podman"])
    assert "papermill" in v["packages"]  # type: ignore[operator]


def test_uboot_banner_is_found_in_bytes() -> None:
    blob = b"\x00junk\x00U-Boot 2024.04-rc1 (Jan 01 2024 - 00:00:00 +0000)\x00more"
    assert uboot_version_from_binary(blob) == "U-Boot 2024.04-rc1 (Jan 01 2024 - 00:00:00 +0000)"
    assert uboot_version_from_binary(b"nothing") is None


def test_junit_counts_and_cases(real_results: dict[str, StageResult]) -> None:
    s = build_summary(real_results, stages=[st for st in PIPELINE_STAGES if st.name != "report"])
    root = ET.fromstring(junit_xml([s]))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "waltport.qemu-x86-64"
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases)
    # image and first_boot wrote nothing: each still appears as one errored testcase.
    errored = {c.get("classname") for c in cases if c.find("error") is not None}
    assert errored == {"qemu-x86-64.network", "qemu-x86-64.image", "qemu-x86-64.first_boot"}
    assert int(suite.get("errors", "0")) == 3
    assert any(c.find("skipped") is not None for c in cases)   # iPXE: no script image


def test_summary_board_block_without_board_stage() -> None:
    s = build_summary({}, stages=[], profile_path=str(Path("boards/x.yaml")))
    assert s["board"]["name"] == "x" and s["board"]["models"] == []


def test_import_commands_of_every_model_shared_lines_last() -> None:
    def cmds(m: str) -> list[str]:
        return [f"podman load -i /tmp/{m}.tar", f"podman tag abc {m}",
                "walt image show --refresh"]
    data = {"imports": [{"server_commands": cmds("a")}, {"server_commands": cmds("b")}],
            "import_commands": cmds("a")}
    assert import_commands(ImageFacts.from_json(data)) == [
        "podman load -i /tmp/a.tar", "podman tag abc a", "podman load -i /tmp/b.tar",
        "podman tag abc b",
        "walt image show --refresh"]
    assert import_commands(ImageFacts(import_commands=tuple(cmds("a")))) == cmds("a")
