"""The serial console on one end of a socat pty pair (what a USB-serial adapter looks like)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from waltport.lab.target.console import ConsoleError
from waltport.lab.target.serial import SerialConsole

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")


@pytest.fixture
def ptys(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            start_new_session=True)
    while not (a.exists() and b.exists()):
        time.sleep(0.02)
    try:
        yield a, b
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)


def test_lines_are_time_stamped_and_awaited(ptys: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = ptys
    log = tmp_path / "console.log"
    with SerialConsole(str(a), 115200, log) as con, open(b, "r+b", buffering=0) as board:
        board.write(b"U-Boot 2023.01\r\n\x1b[0mHit any key\n=> ")
        assert con.expect(r"^=> $", 5)[1] == "=> "          # a prompt without newline
        con.send("version\n")
        assert os.read(board.fileno(), 64) == b"version\n"   # typed on the board's side
    text = log.read_text().splitlines()
    assert re.match(r"^\[ *\d+\.\d{6}\] U-Boot 2023.01$", text[0])
    assert text[1].endswith("] Hit any key")


def test_a_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match="cannot open serial port /dev/ttyUSB-none"):
        SerialConsole("/dev/ttyUSB-none", 115200, tmp_path / "c.log").start()
