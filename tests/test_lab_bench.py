"""The bench file: validated like a profile, every bad field at once, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.cli import main
from waltport.lab.bench import BenchError, CommandSpec, load_bench, parse_bench

GOOD = """\
name: rpi4-desk
model: rpi-4-b
link: {mode: interface, interface: enx00e04c680001}
console: {port: /dev/ttyUSB0, baud: 115200}
power:
  on: uhubctl -l 1-1 -p 2 -a on
  off: uhubctl -l 1-1 -p 2 -a off
"""


def test_a_good_bench_file() -> None:
    bench = parse_bench(GOOD)
    assert bench.link.server_ip == "192.168.152.1/24"        # the default
    assert bench.console is not None and bench.console.baud == 115200
    # YAML 1.1 reads `on:`/`off:` as booleans: the bench file means the words.
    assert bench.power == CommandSpec(on="uhubctl -l 1-1 -p 2 -a on",
                                      off="uhubctl -l 1-1 -p 2 -a off")


@pytest.mark.parametrize(("power", "expected"), [("manual", "manual"), ("null", None)])
def test_manual_and_no_power(power: str, expected: str | None) -> None:
    text = f"name: b\nlink: {{mode: passive, interface: eth1}}\nconsole: null\npower: {power}\n"
    bench = parse_bench(text)
    assert bench.power == expected and bench.console is None


def test_every_bad_field_at_once() -> None:
    text = """\
name: Desk
link: {mode: bridge, interface: "a b", server_ip: 8.8.8.8/24}
console: {port: ttyUSB0, baud: 12}
power: {on: x}
mac: AA:BB
colour: red
"""
    with pytest.raises(BenchError) as err:
        parse_bench(text, "desk.yaml")
    paths = [p.path for p in err.value.problems]
    assert paths == ["name", "link.mode", "link.interface", "link.server_ip", "console.port",
                     "console.baud", "power.off", "mac", "colour"]
    assert err.value.exit_code == 2
    assert str(err.value).startswith("invalid bench file desk.yaml: 9 problem(s)")


def test_power_of_an_unknown_kind() -> None:
    with pytest.raises(BenchError, match=r"power: 'automatic': give \{on: CMD, off: CMD\}"):
        parse_bench("name: b\nlink: {mode: interface, interface: eth1}\npower: automatic\n")


def test_cli_exits_2_on_a_bad_bench_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         boards_dir: Path) -> None:
    bad = tmp_path / "bench.yaml"
    bad.write_text("name: b\nlink: {mode: interface}\nconsole: {port: /dev/x, baud: 7}\n")
    code = main(["lab", "boot", str(boards_dir / "qemu-arm64.yaml"), "--bench", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "link.interface: required key is missing" in err
    assert "console.baud: 7: not a standard baud rate" in err and "Traceback" not in err
    with pytest.raises(BenchError, match="cannot read"):
        load_bench(tmp_path / "missing.yaml")
