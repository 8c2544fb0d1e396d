"""Sub-model cross-check: the generated detection commands run inside real U-Boot.

For every ``samples`` value of a U-Boot profile, the commands of
:func:`waltport.bootloader.render.uboot_detection_lines` are typed on the
console of Debian's qemu_arm64 U-Boot (after stopping autoboot) and the
``${walt_model}`` U-Boot computes is compared with
:func:`waltport.profile.detect.detect`.  One QEMU run serves all values; a
value whose rules select nothing makes U-Boot reset (as on a board), which
is recorded and the remaining values continue in a new run.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from waltport.bootloader.render import uboot_detection_lines
from waltport.errors import WaltportError
from waltport.lab.target.console import Console, ConsoleTimeout
from waltport.lab.virtual.qemu import Board, firmware_problems, qemu_argv
from waltport.profile.detect import detect
from waltport.profile.model import Bootloader, Profile, UBootDetect

RESULT_RE = r"^WPX-RESULT-(\d+) (.*) WPX-END$"
AUTOBOOT_RE = r"Hit any key to stop autoboot"
PROMPT_RE = r"^=> $"


class CrossCheckError(WaltportError):
    """The real U-Boot and the simulator disagree, or U-Boot could not be driven."""


@dataclass(frozen=True)
class Sample:
    index: int
    value: str                  # value of the detection source variable
    expected: str               # from the profile's samples
    simulated: str | None       # waltport detect
    uboot: str | None = None    # what real U-Boot computed (None: it reset)

    @property
    def ok(self) -> bool:
        return self.uboot == self.simulated == self.expected


@dataclass(frozen=True)
class CrossCheck:
    profile: str
    source: str
    samples: tuple[Sample, ...]
    console_log: str

    @property
    def ok(self) -> bool:
        return bool(self.samples) and all(s.ok for s in self.samples)

    def to_json(self) -> dict[str, object]:
        return {"profile": self.profile, "source": self.source, "ok": self.ok,
                "console_log": self.console_log,
                "samples": [{**asdict(s), "ok": s.ok} for s in self.samples]}

    def summary(self) -> str:
        lines = [f"{'ok  ' if s.ok else 'FAIL'} {s.value} -> u-boot {s.uboot!r}, "
                 f"simulator {s.simulated!r}, expected {s.expected!r}" for s in self.samples]
        verdict = "agree" if self.ok else "DISAGREE"
        return "\n".join([*lines, f"{self.profile}: real U-Boot and simulator {verdict} on "
                                  f"{len(self.samples)} value(s)"])


def plan(profile: Profile) -> tuple[str, list[Sample]]:
    """The detection source variable and one :class:`Sample` per profile sample (pure)."""
    if profile.bootloader is not Bootloader.UBOOT:
        raise CrossCheckError(f"{profile.name}: the cross-check runs U-Boot rules; "
                              "this profile is not a U-Boot board")
    d = profile.detect
    if not isinstance(d, UBootDetect):
        raise CrossCheckError(f"{profile.name}: no U-Boot detection rules to cross-check")
    if not profile.samples:
        raise CrossCheckError(f"{profile.name}: no samples to cross-check (add 'samples')")
    samples = [Sample(i, value, expected, detect(profile, {d.source: value}).model)
               for i, (value, expected) in enumerate(profile.samples.items())]
    return d.source, samples


def typed_commands(source: str, sample: Sample, detection: list[str]) -> list[str]:
    """What is typed for one sample; the result line is printed by ``echo``.

    The typed ``echo`` line itself starts with ``=> echo`` on the console, so
    the anchored result pattern only matches U-Boot's output.
    """
    if any(c in sample.value for c in " ;'\"$\\"):
        raise CrossCheckError(f"sample {sample.value!r}: contains a character U-Boot's "
                              "shell would interpret")
    return [f"setenv {source} {sample.value}", "setenv walt_model", *detection,
            f"echo WPX-RESULT-{sample.index} ${{walt_model}} WPX-END"]


def parse_result(line: str) -> tuple[int, str | None] | None:
    m = re.match(RESULT_RE, line)
    if m is None:
        return None
    return int(m.group(1)), (m.group(2).strip() or None)


def _run_until_reset(console: Console, source: str, todo: list[Sample], detection: list[str],
                     timeout: float) -> list[Sample]:
    console.expect(AUTOBOOT_RE, timeout, "U-Boot autoboot prompt")
    console.send(" ")
    console.expect(PROMPT_RE, timeout, "U-Boot prompt")
    done: list[Sample] = []
    for sample in todo:
        for cmd in typed_commands(source, sample, detection):
            console.send(cmd + "\n")
        try:
            _, line = console.expect(RESULT_RE, timeout, f"result for {sample.value}")
        except ConsoleTimeout:
            if console.running():
                raise
            # The rules selected nothing: U-Boot reset (QEMU exits with -no-reboot).
            done.append(Sample(sample.index, sample.value, sample.expected, sample.simulated,
                               None))
            return done
        parsed = parse_result(line)
        assert parsed is not None
        done.append(Sample(sample.index, sample.value, sample.expected, sample.simulated,
                           parsed[1]))
    console.send("poweroff\n")
    console.wait(10)
    return done


def run_crosscheck(profile: Profile, *, out_dir: Path | None = None,
                   timeout: float = 60.0) -> CrossCheck:
    """Run every sample through real U-Boot (qemu_arm64) and compare with ``detect``."""
    source, samples = plan(profile)
    detection = uboot_detection_lines(profile)
    board = Board(arch="arm64", tap=None, memory_mb=128)
    if problems := firmware_problems(board):
        raise CrossCheckError("; ".join(problems))
    out = out_dir or Path(tempfile.mkdtemp(prefix="waltport-crosscheck-"))
    out.mkdir(parents=True, exist_ok=True)
    results: list[Sample] = []
    todo = list(samples)
    run = 0
    while todo:
        log = out / f"crosscheck-console-{run}.log"
        with Console(qemu_argv(board), log) as console:
            try:
                done = _run_until_reset(console, source, todo, detection, timeout)
            except ConsoleTimeout as err:
                raise CrossCheckError(f"driving U-Boot failed: {err}") from err
        results += done
        todo = todo[len(done):]
        run += 1
    check = CrossCheck(profile.name, source, tuple(results), str(out / "crosscheck-console-0.log"))
    (out / "crosscheck.json").write_text(json.dumps(check.to_json(), indent=2) + "\n")
    return check
