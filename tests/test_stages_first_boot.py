"""First-boot stage: what the node says of itself after login, as checks (pure)."""

from __future__ import annotations

from typing import Any

from waltport.stages.first_boot import node_checks


def _boot(node: object) -> dict[str, Any]:
    return {"stages": [{"name": "ssh_login", "time": 48.5,
                        "evidence": {"output": "x86_64", "node": node}}]}


def test_debian_node_running() -> None:
    rows = node_checks(_boot({"apt": "apt 2.6.2 (amd64)", "systemd": "running",
                              "failed_units": []}))
    assert rows == [("apt-get answers on the node", True, "apt-get --version: apt 2.6.2 (amd64)"),
                    ("systemd reports the system running", True,
                     "systemctl is-system-running: running")]


def test_degraded_names_its_failed_units() -> None:
    rows = dict((n, (ok, ev)) for n, ok, ev in node_checks(_boot(
        {"apt": "apt 2.6.2 (arm64)", "systemd": "degraded",
         "failed_units": ["chrony.service"]})))
    assert rows["systemd reports the system running"] == (
        False, "systemctl is-system-running: degraded; failed units: chrony.service")


def test_minimal_image_skips_with_the_reason() -> None:
    rows = node_checks(_boot({"apt": "absent", "systemd": "absent", "failed_units": []}))
    assert [(n, ok) for n, ok, _ in rows] == [("apt-get answers on the node", None),
                                              ("systemd reports the system running", None)]
    assert "minimal" in rows[0][2]


def test_no_login_no_rows_and_errors_are_failures() -> None:
    assert node_checks({"stages": [{"name": "userspace", "evidence": {}}]}) == []
    assert node_checks(_boot({"error": "ssh timed out after 30 s"})) == [
        ("the node answers after login", False, "ssh timed out after 30 s")]
