"""The console edge class against a real process (busybox sh as a fake serial line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from waltport.lab.target.console import Console, ConsoleTimeout, clean

SCRIPT = r"""
printf 'U-Boot 2023.01\r\n\033[0mHit any key to stop autoboot\n'
read key
printf '=> '
read cmd
echo "got:$cmd"
sleep 30
"""


def test_expect_type_and_log(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    with Console(["sh", "-c", SCRIPT], log) as con:
        t, line = con.expect(r"Hit any key", 10)
        assert t >= 0 and line == "Hit any key to stop autoboot"
        con.send(" \n")
        _, prompt = con.expect(r"^=> $", 10)  # a prompt without newline
        assert prompt == "=> "
        con.send("version\n")
        con.expect(r"got:version$", 10)   # same line as the prompt, as on U-Boot
        with pytest.raises(ConsoleTimeout) as err:
            con.expect(r"never", 0.5, "the impossible")
        assert "no the impossible on the console" in str(err.value)
        assert "=> got:version" in err.value.tail
    assert not con.running()
    text = log.read_text().splitlines()
    assert re.match(r"^\[ *\d+\.\d{6}\] U-Boot 2023.01$", text[0])  # no \r, timestamped
    assert any(ln.endswith("] => got:version") for ln in text)


def test_exit_ends_a_wait_early(tmp_path: Path) -> None:
    with Console(["sh", "-c", "echo bye"], tmp_path / "c.log") as con:
        with pytest.raises(ConsoleTimeout) as err:
            con.expect(r"never", 30)
        assert err.value.elapsed < 10
        assert con.wait(5) == 0


def test_clean() -> None:
    assert clean("\x1b[2J\x1b[0;37mU-Boot\r") == "U-Boot"
