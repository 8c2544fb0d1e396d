"""Power implementations with real shell commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.lab.target.power import CommandPower, ManualPower, NoPower, PowerError


def test_command_power_runs_the_bench_commands(tmp_path: Path) -> None:
    log = tmp_path / "relay.log"
    power = CommandPower(f"echo on >> {log}", f"echo off >> {log}")
    power.off()                                   # never switched on: nothing to do
    power.on()
    power.off()
    power.off()                                   # twice is fine
    power.cycle()
    assert log.read_text().split() == ["on", "off", "on"]
    assert power.alive() is None                  # a relay cannot tell


def test_cycle_command_is_used_when_given(tmp_path: Path) -> None:
    log = tmp_path / "relay.log"
    CommandPower(f"echo on >> {log}", f"echo off >> {log}", f"echo cycle >> {log}").cycle()
    assert log.read_text().split() == ["cycle"]


def test_a_failing_command_names_itself_and_its_output(tmp_path: Path) -> None:
    log = tmp_path / "relay.log"
    power = CommandPower("echo no relay >&2; exit 7", f"echo off >> {log}")
    with pytest.raises(PowerError, match=r"power on: `echo no relay >&2; exit 7` exited "
                                         r"with 7: no relay"):
        power.on()
    power.off()                                   # the half-started board is switched off
    assert log.read_text().split() == ["off"]


def test_manual_power_asks_the_porter() -> None:
    asked: list[str] = []
    power = ManualPower(asked.append)
    power.on()
    assert asked == ["Switch the board ON now, then press Enter: "]
    assert NoPower().alive() is None and NoPower().kind == "none"


def test_manual_power_without_anyone_to_ask_is_a_clear_error() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    script = ("from waltport.lab.target.power import ManualPower, PowerError\n"
              "try:\n    ManualPower().on()\nexcept PowerError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", script], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=True)
    assert "manual needs someone to confirm" in done.stdout
