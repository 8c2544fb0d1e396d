"""A console dialogue as data: the boot log before the prompt, then command -> output.

*Pure.*  :func:`split_transcript` cuts a console log (the lines a
:class:`~waltport.lab.target.console.LineConsole` stamped) at each prompt;
the live probe builds the same :class:`Exchange` records as it types, so a
stored ``console.log`` of a real board and a live run parse the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# "[  1.234567] text": a line of a waltport console.log.
LOG_LINE_RE = re.compile(r"^\[\s*(\d+\.\d+)\] ?(.*)$")


@dataclass(frozen=True)
class Exchange:
    """One command typed at the prompt, what the board answered, and when (console seconds)."""

    command: str
    output: tuple[str, ...]
    sent: float
    done: float
    complete: bool = True     # False: the prompt did not come back in time

    @property
    def text(self) -> str:
        return "\n".join(self.output)

    def to_json(self) -> dict[str, object]:
        return {"command": self.command, "output": list(self.output), "sent": round(self.sent, 3),
                "done": round(self.done, 3), "seconds": round(self.done - self.sent, 3),
                "complete": self.complete}


@dataclass(frozen=True)
class Transcript:
    """The boot log up to the first prompt, the prompt, and every exchange after it."""

    boot: tuple[str, ...]
    prompt: str
    exchanges: tuple[Exchange, ...]

    def output_of(self, command: str) -> str | None:
        """The output of the last exchange whose command is ``command`` (None: not run)."""
        for ex in reversed(self.exchanges):
            if ex.command == command:
                return ex.text
        return None

    def starting(self, prefix: str) -> tuple[Exchange, ...]:
        return tuple(ex for ex in self.exchanges if ex.command.startswith(prefix))


def visible(text: str) -> str:
    """*Pure.* ``text`` as a terminal shows it: each backspace erases the character before."""
    if "\b" not in text:
        return text
    out: list[str] = []
    for c in text:
        if c == "\b":
            if out:
                out.pop()
        else:
            out.append(c)
    return "".join(out)


def parse_log(text: str) -> list[tuple[float, str]]:
    """The (time, text) lines of a waltport console.log."""
    out = []
    for raw in text.splitlines():
        m = LOG_LINE_RE.match(raw)
        if m:
            out.append((float(m.group(1)), visible(m.group(2))))
    return out


def split_transcript(lines: Sequence[tuple[float, str]], prompt: str) -> Transcript:
    """Cut stamped console lines at each ``prompt`` + command line into a transcript."""
    boot: list[str] = []
    exchanges: list[Exchange] = []
    current: tuple[str, float] | None = None
    output: list[str] = []
    for t, text in lines:
        if text.startswith(prompt):
            if current is not None:
                exchanges.append(Exchange(current[0], tuple(output), current[1], t))
            current, output = (text[len(prompt):], t), []
        elif current is None:
            boot.append(text)
        else:
            output.append(text)
    if current is not None and current[0]:
        last = lines[-1][0] if lines else current[1]
        exchanges.append(Exchange(current[0], tuple(output), current[1], last, complete=False))
    return Transcript(tuple(boot), prompt, tuple(exchanges))
