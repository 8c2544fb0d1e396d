"""The dialogue's rules against a console fake that follows the TypedConsole protocol.

The real U-Boot and iPXE dialogues run in tests/test_probe_run.py; this
pins what needs no board: which countdown picks which stop key, where an
answer starts and ends, Ctrl-C on a command that hangs, and that a command
writing the stored environment is never typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from waltport.cli import main
from waltport.lab.target.console import ConsoleTimeout, Line
from waltport.probe.session import IPXE_KEYS, Dialogue, ProbeError, StopKeys, porter_keys


class ScriptedBoard:
    """Prints ``boot``; after the stop key, a prompt; each typed line answered by ``reply``."""

    def __init__(self, boot: list[str], prompt: str, reply: Callable[[str], list[str] | None]):
        self.lines = [Line(float(i), text) for i, text in enumerate(boot[:-1])]
        self.partial = boot[-1]
        self.prompt = prompt
        self.reply = reply
        self.typed: list[str] = []
        self.stopped = False

    def snapshot(self) -> tuple[list[Line], str]:
        return list(self.lines), self.partial

    def tail(self, n: int = 15) -> list[str]:
        return [ln.text for ln in self.lines[-n:]] + [self.partial]

    def now(self) -> float:
        return float(len(self.lines))

    def expect(self, pattern: str, timeout: float, what: str | None = None) -> tuple[float, str]:
        for ln in [*self.lines, Line(self.now(), self.partial)]:
            if re.search(pattern, ln.text):
                return ln.time, ln.text
        raise ConsoleTimeout(what or pattern, timeout, self.tail())

    def _newline(self, text: str) -> None:
        self.lines.append(Line(self.now(), text))

    def send(self, text: str) -> None:
        self.typed.append(text)
        if not self.stopped:
            self.stopped = True
            self._newline(self.partial)
            self.partial = self.prompt
            return
        for c in text:
            if c == "\n":
                command = self.partial[len(self.prompt):]
                self._newline(self.partial)
                out = self.reply(command)
                self.partial = ""
                if out is not None:
                    for line in out:
                        self._newline(line)
                    self.partial = self.prompt
            elif c == "\x03":
                self._newline("<INTERRUPT>")
                self.partial = self.prompt
            else:
                self.partial += c


def uboot(reply: Callable[[str], list[str] | None]) -> ScriptedBoard:
    return ScriptedBoard(["U-Boot 2023.01", "Net:   eth0: virtio-net#32",
                          "Hit any key to stop autoboot:  2 "], "=> ", reply)


def test_countdown_stop_key_prompt_and_answers() -> None:
    board = uboot(lambda c: ["U-Boot 2023.01 (x)", "gcc 12"] if c == "version" else [])
    d = Dialogue(board)
    assert d.catch_prompt((StopKeys(), IPXE_KEYS), 1.0).bootloader == "uboot"
    assert board.typed == [" "] and d.prompt == "=> "
    ex = d.run("version", 1.0)
    assert ex.output == ("U-Boot 2023.01 (x)", "gcc 12") and ex.complete
    assert d.run("setenv autoload no", 1.0).output == ()


def test_ipxe_banner_gets_ctrl_b_and_keys_in_echoed_groups() -> None:
    board = ScriptedBoard(["iPXE 1.0.0+ -- Open Source Network Boot Firmware -- http",
                           "Press Ctrl-B for the iPXE command line..."], "iPXE> ",
                          lambda c: [f"ran {c}"])
    d = Dialogue(board)
    assert d.catch_prompt((StopKeys(), IPXE_KEYS), 1.0).bootloader == "ipxe"
    assert board.typed == ["\x02"]
    assert d.run("show net0/mac", 1.0).output == ("ran show net0/mac",)
    assert board.typed[1:] == ["show n", "et0/ma", "c", "\n"]


def test_a_hanging_command_gets_ctrl_c_and_is_recorded_incomplete() -> None:
    d = Dialogue(uboot(lambda c: None if c == "dhcp" else []))
    d.catch_prompt((StopKeys(),), 1.0)
    ex = d.run("dhcp", 0.2)
    assert not ex.complete and ex.output == ("<INTERRUPT>",)


def test_the_stored_environment_is_never_written() -> None:
    board = uboot(lambda c: [])
    d = Dialogue(board)
    d.catch_prompt((StopKeys(),), 1.0)
    for command in ("saveenv", "env save", "setenv a b; saveenv", "env erase"):
        with pytest.raises(ProbeError, match="never changes the board's stored environment"):
            d.run(command, 1.0)
    assert board.typed == [" "]


def test_no_countdown_and_a_board_that_boots_on_are_told_apart() -> None:
    silent = ScriptedBoard(["BOARD: hello", ""], "=> ", lambda c: [])
    with pytest.raises(ProbeError, match="no bootloader prompt") as err:
        Dialogue(silent).catch_prompt((StopKeys(), IPXE_KEYS), 0.1)
    assert err.value.tail[0] == "BOARD: hello"
    booting = ScriptedBoard(["U-Boot 2023.01", "BOOTP broadcast 1", ""], "=> ", lambda c: [])
    with pytest.raises(ProbeError, match="the autoboot cannot be interrupted"):
        Dialogue(booting).catch_prompt((StopKeys(),), 0.1)


@pytest.mark.parametrize(("countdown", "stop", "why"), [
    ("(", " ", "--countdown '(': not a regular expression"),
    ("Hit any key", "ab\\x", "--stop 'ab\\\\x': bad escape"),
    ("Hit any key", "é", "ASCII only"),
    ("Hit any key", "", "--stop: empty"),
    ("Hit any key", "saveenv\\n", "would write the board's stored environment"),
])
def test_bad_stop_keys_are_refused_before_anything_is_powered(countdown: str, stop: str,
                                                               why: str) -> None:
    with pytest.raises(ProbeError, match=re.escape(why)):
        porter_keys(countdown, stop)


def test_porter_keys_take_escapes() -> None:
    assert porter_keys("stop autoboot", "\\x1b\\x1b").stop == "\x1b\x1b"
    assert porter_keys(r"Hit any key.*\d", " ") == StopKeys(countdown=r"Hit any key.*\d")


def test_cli_refuses_a_bad_countdown_with_exit_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text("name: b\n")
    assert main(["probe", "--bench", str(bench), "--out", str(tmp_path / "o"),
                 "--countdown", "("]) == 2
    err = capsys.readouterr().err
    assert "--countdown" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
