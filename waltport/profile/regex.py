"""The regular-expression subset shared by U-Boot's ``setexpr ... sub`` and Python.

U-Boot's ``setexpr name sub r s [t]`` runs its own small engine (lib/slre.c).
It and Python's :mod:`re` agree on a common subset; profiles must stay inside it
so that the simulator (:mod:`waltport.profile.detect`) and the board compute
the same model.  Inside the subset both engines are leftmost-first with greedy
backtracking quantifiers, so the first match and its replacement coincide.

Allowed: literal characters from ``[A-Za-z0-9_,:/=+@%~-]``, ``.``, bracket
sets ``[...]``/``[^...]`` listing characters one by one, ``*``, ``+``, ``?``
after an atom, ``^`` at the start, ``$`` at the end, and groups ``(...)``
without alternation.

Found by running U-Boot 2023.01 (Debian's qemu_arm64 build) and kept true by
the real-U-Boot cross-check:
  * ``[0-9]`` is *not* a range in U-Boot: it matches '0', '-' or '9'.  Python
    reads a range.  So a ``-`` inside a set is allowed only first or last
    (literal in both engines); spell digits out: ``[0123456789]``;
  * ``\\d`` and ``\\s`` do not match in U-Boot's build: no backslashes at all;
  * a pattern that can match the empty string, that has more than one
    quantifier, or that uses ``?`` (which does not backtrack in U-Boot)
    matches differently in U-Boot: all three are refused;
  * U-Boot replaces the first *occurrence of the matched text*, not the text
    at the match position (``b$`` on ``bab`` gives ``Nab``): the simulator
    (:func:`waltport.profile.detect.uboot_sub`) does the same.
These were found by tests/test_profile_regex_uboot.py, which runs random
patterns of the subset through the real U-Boot and compares.

Refused, with the reason:
  * ``|`` alternation, ``{m,n}`` counts, lazy ``*?``/``+?``: slre parses them
    differently or not at all;
  * any backslash escape and look-arounds (write ``[.]`` for a dot);
  * quotes ``'`` and ``"``: the expression is single-quoted on the U-Boot
    command line, and a CONFIG_BOOTCOMMAND cannot hold ``"``;
  * ``$``/``{``/``}`` except a final ``$`` anchor: hush would expand them.
"""

from __future__ import annotations

import re

_LITERAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_,:/=+@%~-")
_QUANT = set("*+?")


def subset_problems(pattern: str) -> list[str]:
    """Return why ``pattern`` leaves the common subset (empty list: it is fine)."""
    problems: list[str] = []
    if not pattern:
        return ["empty regular expression"]
    i = 0
    depth = 0
    prev_atom = False
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "^":
            if i != 0:
                problems.append(f"'^' at position {i}: only allowed as the first character")
            prev_atom = False
        elif c == "$":
            if i != n - 1:
                problems.append(f"'$' at position {i}: only allowed as the last character")
            prev_atom = False
        elif c in _QUANT:
            if not prev_atom:
                problems.append(f"'{c}' at position {i} does not follow a character, set or group")
            elif i + 1 < n and pattern[i + 1] in _QUANT:
                problems.append(f"'{pattern[i:i + 2]}' at position {i}: stacked or lazy "
                                "quantifiers differ between U-Boot and Python")
                i += 1
            prev_atom = False
        elif c == "\\":
            nxt = pattern[i + 1] if i + 1 < n else ""
            problems.append(f"'\\{nxt}' at position {i}: backslash escapes are not "
                            "understood alike by U-Boot (write [.] for a literal dot, "
                            "[0123456789] for a digit)")
            i += 1
            prev_atom = True
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("^", "]") else i + 1)
            if end < 0:
                problems.append(f"'[' at position {i} is never closed")
                break
            body = pattern[i + 1:end].removeprefix("^")
            if "-" in body[1:-1]:
                problems.append(f"'-' inside the set at position {i}: U-Boot has no ranges "
                                "(it reads [0-9] as '0', '-', '9'); list the characters, "
                                "or put '-' first or last")
            for ch in body:
                if ch not in _LITERAL and ch not in ".*+?$()":
                    problems.append(f"character {ch!r} inside the set at position {i} "
                                    "is outside the common subset")
            i = end
            prev_atom = True
        elif c == "(":
            if pattern[i + 1:i + 2] == "?":
                problems.append(f"'(?' at position {i}: extensions are not in U-Boot's engine")
            depth += 1
            prev_atom = False
        elif c == ")":
            if depth == 0:
                problems.append(f"')' at position {i} has no matching '('")
            depth = max(0, depth - 1)
            prev_atom = True
        elif c == "|":
            problems.append(f"'|' at position {i}: alternation is outside the common subset")
            prev_atom = False
        elif c == ".":
            prev_atom = True
        elif c in "{}":
            problems.append(f"'{c}' at position {i}: counted repetition is outside the "
                            "common subset (and hush would expand it)")
            prev_atom = False
        elif c in "'\"":
            problems.append(f"quote {c!r} at position {i} cannot be passed through U-Boot's "
                            "command line")
        elif c in _LITERAL:
            prev_atom = True
        else:
            problems.append(f"character {c!r} at position {i} is outside the common subset")
        i += 1
    if depth:
        problems.append("unbalanced '(': a group is never closed")
    if not problems:
        problems += _engine_limits(pattern)
    return problems


def _engine_limits(pattern: str) -> list[str]:
    """Rules found by running random patterns through the real U-Boot."""
    out: list[str] = []
    try:
        re.compile(pattern)
    except re.error as err:   # e.g. '[^]': an empty negated set that never closes
        return [f"not a valid regular expression: {err}"]
    if re.search(pattern, "") is not None:
        out.append("the pattern can match an empty string: U-Boot then differs "
                   "(no empty match at the end); make at least one item required")
    bare = re.sub(r"\[[^\]]*\]", "x", pattern)  # quantifier characters inside sets are literal
    if "?" in bare:
        out.append("'?' does not backtrack in U-Boot's engine ('.?[^a]' matches elsewhere "
                   "than in Python): write two rules instead")
    if sum(bare.count(q) for q in "*+?") > 1:
        out.append("more than one '*', '+' or '?': U-Boot's engine backtracks less than "
                   "Python's across several quantifiers; split it into several rules")
    return out


def replacement_problems(text: str) -> list[str]:
    """Return why a replacement string cannot be used (it must be plain text)."""
    bad = sorted({c for c in text if c not in _LITERAL and c != "."})
    if bad:
        return [f"characters {''.join(bad)!r} are not allowed in a replacement "
                "(plain [A-Za-z0-9_,:/=+@%~.-] only; back-references are not emulated)"]
    return []
