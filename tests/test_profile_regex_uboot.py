"""Proof of the regex subset: random patterns inside it give the same result in real U-Boot.

Patterns are drawn (fixed seed) from the subset of waltport.profile.regex,
typed as ``setexpr`` commands on Debian's qemu_arm64 U-Boot, and compared with
the simulator's ``uboot_sub``. A second group shows why the subset excludes
ranges: U-Boot and Python disagree on them.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from waltport.lab.target.console import Console
from waltport.lab.virtual.qemu import Board, qemu_argv
from waltport.profile.detect import uboot_sub
from waltport.profile.regex import subset_problems

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="no QEMU"),
]

ALPHABET = "ab-./1"
ATOMS = ["a", "b", "-", "/", "1", ".", "[ab]", "[^a]", "[-1]", "[.]", "(ab)", "(a.)"]


def random_pattern(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 5)):
        atom = rng.choice(ATOMS)
        parts.append(atom + rng.choice(["", "", "", "*", "+", "?"]))
    pattern = "".join(parts)
    if rng.random() < 0.3:
        pattern = "^" + pattern
    if rng.random() < 0.3:
        pattern += "$"
    return pattern


def cases(n: int, seed: int = 7) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        pattern = random_pattern(rng)
        if subset_problems(pattern):
            continue
        subject = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 9)))
        out.append((pattern, rng.choice(["R", "", "x-y"]), subject))
    return out


def run_in_uboot(tmp: Path, triples: list[tuple[str, str, str]]) -> list[str]:
    """Each triple's result in real U-Boot (the variable's value after setexpr)."""
    results: list[str] = []
    with Console(qemu_argv(Board(arch="arm64", tap=None, memory_mb=128)),
                 tmp / "console.log") as console:
        console.expect(r"Hit any key to stop autoboot", 60, "autoboot prompt")
        console.send(" ")
        console.expect(r"^=> $", 30, "prompt")
        for i, (pattern, repl, subject) in enumerate(triples):
            console.send(f"setenv v {subject}; setexpr v sub '{pattern}' '{repl}' ${{v}}; "
                         f"echo RX{i}=[${{v}}]\n")
            _, line = console.expect(rf"^RX{i}=\[.*\]$", 30, f"result {i}")
            results.append(re.match(rf"^RX{i}=\[(.*)\]$", line).group(1))  # type: ignore[union-attr]
        console.send("poweroff\n")
        console.wait(10)
    return results


def test_subset_agrees_with_real_uboot(tmp_path: Path) -> None:
    triples = cases(600)
    got = run_in_uboot(tmp_path, triples)
    disagreements = [(p, r, s, u, uboot_sub(s, p, r)[0])
                     for (p, r, s), u in zip(triples, got, strict=True)
                     if u != uboot_sub(s, p, r)[0]]
    assert disagreements == [], disagreements


def test_ranges_are_why_the_subset_excludes_them(tmp_path: Path) -> None:
    # Outside the subset, on purpose: the two engines differ here.
    triples = [("[0-9]", "N", "a-b"), ("bcm[0-9]*-", "", "bcm2835-rpi")]
    got = run_in_uboot(tmp_path, triples)
    assert got[0] == "aNb"            # U-Boot: '-' is one of the set's characters
    assert uboot_sub("a-b", "[0-9]", "N")[0] == "a-b"   # Python: a digit range
    assert got[1] == "bcm2835-rpi"    # no match in U-Boot ...
    assert uboot_sub("bcm2835-rpi", "bcm[0-9]*-", "")[0] == "rpi"  # ... a match in Python
    assert subset_problems("[0-9]") and subset_problems("bcm[0-9]*-")
