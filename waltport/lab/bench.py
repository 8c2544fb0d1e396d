"""The bench file: how a real board is cabled to this machine (link, console, power).

A YAML file, validated like a profile (every bad field at once, exit 2)::

    name: rpi4-desk
    model: rpi-4-b                  # optional: which model of the family is on the bench
    mac: null                       # optional: the board's MAC (else: the first DHCP client)
    link:
      mode: interface               # interface (serve on it) | passive (capture only)
      interface: enx00e04c680001    # the USB-Ethernet adapter the board is cabled to
      server_ip: 192.168.152.1/24   # set on the interface if it has no address
    console: {port: /dev/ttyUSB0, baud: 115200}   # or null
    power: {on: "uhubctl -l 1-1 -p 2 -a on", off: "uhubctl -l 1-1 -p 2 -a off"}
                                    # or: manual, or null

Pure: :func:`parse_bench` (text -> :class:`Bench`); :func:`load_bench` reads the file.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from waltport.errors import FieldProblem, WaltportError
from waltport.profile.load import problems_from_validation

NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")
MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000,
         1500000, 2000000, 3000000)


class BenchError(WaltportError):
    """A bench file could not be read or is invalid (every problem listed)."""

    exit_code = 2

    def __init__(self, source: str, problems: list[FieldProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [f"invalid bench file {source}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkSpec(_Strict):
    mode: Literal["interface", "passive"]
    interface: str
    server_ip: str = "192.168.152.1/24"

    @field_validator("interface")
    @classmethod
    def _ifname(cls, v: str) -> str:
        if not IFNAME_RE.match(v):
            raise ValueError(f"{v!r} is not an interface name (1-15 of [A-Za-z0-9_.@-])")
        return v

    @field_validator("server_ip")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            iface = ipaddress.IPv4Interface(v)
        except ValueError as err:
            raise ValueError(f"{v!r} is not an IPv4 address with a prefix "
                             "(192.168.152.1/24)") from err
        if "/" not in v or not iface.ip.is_private or iface.network.prefixlen > 28:
            raise ValueError(f"{v}: give a private IPv4 address with a prefix of /28 or "
                             "larger (the DHCP pool lives there)")
        return str(iface)


class SerialSpec(_Strict):
    port: str
    baud: int = 115200

    @field_validator("port")
    @classmethod
    def _port(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"{v!r}: give the tty's absolute path (/dev/ttyUSB0)")
        return v

    @field_validator("baud")
    @classmethod
    def _baud(cls, v: int) -> int:
        if v not in BAUDS:
            raise ValueError(f"{v}: not a standard baud rate ({', '.join(map(str, BAUDS))})")
        return v


class CommandSpec(_Strict):
    on: str = Field(min_length=1)
    off: str = Field(min_length=1)
    cycle: str | None = None


class Bench(_Strict):
    """A validated bench: a real board's link, console and power."""

    name: str
    link: LinkSpec
    console: SerialSpec | None = None
    power: CommandSpec | Literal["manual"] | None = None
    model: str | None = None
    mac: str | None = None

    @field_validator("name", "model")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not NAME_RE.match(v):
            raise ValueError(f"{v!r}: use [a-z0-9-], starting with a letter")
        return v

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        if v is not None and not MAC_RE.match(v):
            raise ValueError(f"{v!r}: give six lower-case hex pairs (aa:bb:cc:dd:ee:ff)")
        return v


def _yaml11_keys(power: Any) -> Any:
    # YAML 1.1 reads the keys `on:` and `off:` as booleans; the bench file means the words.
    if isinstance(power, dict):
        return {({True: "on", False: "off"}.get(k, k) if isinstance(k, bool) else k): v
                for k, v in power.items()}
    return power


def _plain_power(problems: list[FieldProblem], power: Any) -> list[FieldProblem]:
    # The union of power forms reports a problem per branch: keep one plain sentence.
    mapped = [FieldProblem(p.path.replace("power.CommandSpec", "power"), p.reason)
              for p in problems if not p.path.startswith("power.literal")]
    out = [p for p in mapped if p.path != "power"]
    if len(out) < len(mapped) or (power is not None and not isinstance(power, dict)
                                  and power != "manual"):
        out.append(FieldProblem("power", f"{power!r}: give {{on: CMD, off: CMD}} (optional "
                                         "cycle: CMD), manual, or null"))
    return out


def parse_bench(text: str, source: str = "<bench>") -> Bench:
    """Pure: YAML text -> Bench, or BenchError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise BenchError(source, [FieldProblem(f"(YAML {where})",
                                               str(getattr(err, "problem", None) or err))]
                         ) from err
    if not isinstance(data, dict):
        raise BenchError(source, [FieldProblem("(top level)",
                                               "a bench file is a YAML mapping of keys")])
    if "power" in data:
        data["power"] = _yaml11_keys(data["power"])
    try:
        return Bench.model_validate(data)
    except ValidationError as err:
        raise BenchError(source, _plain_power(problems_from_validation(err),
                                              data.get("power"))) from err


def load_bench(path: str | Path) -> Bench:
    """Read and validate a bench file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BenchError(str(p), [FieldProblem("(file)", f"cannot read: {err}")]) from err
    return parse_bench(text, str(p))
