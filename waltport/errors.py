"""One exception family for waltport.

Every error a user can cause derives from :class:`WaltportError`; the CLI turns
them into one message and an exit code (``exit_code``), never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class WaltportError(Exception):
    """Root of every error waltport raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class FieldProblem:
    """One bad field: where it is (``detect.rules[2].regex``) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ProfileError(WaltportError):
    """A board profile could not be read or is invalid (every problem listed)."""

    exit_code = 2

    def __init__(self, source: str, problems: Sequence[FieldProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [f"invalid board profile {source}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ScriptImageError(WaltportError):
    """A U-Boot legacy script image is malformed; ``defects`` names each one."""

    exit_code = 2

    def __init__(self, source: str, defects: Sequence[str]) -> None:
        self.source = source
        self.defects = tuple(defects)
        lines = [f"bad U-Boot script image {source}:"] + [f"  - {d}" for d in self.defects]
        super().__init__("\n".join(lines))


class GenerationError(WaltportError):
    """Bootloader artifacts could not be rendered or written."""


class LintError(WaltportError):
    """Lint found errors in generated scripts."""

    def __init__(self, findings: Sequence[object]) -> None:
        self.findings = tuple(findings)
        lines = ["lint found errors:"] + [f"  - {f}" for f in self.findings]
        super().__init__("\n".join(lines))


class UsageError(WaltportError):
    """A command-line argument is wrong."""

    exit_code = 2


class OutputError(UsageError):
    """An output path cannot be used (a file where a directory is wanted, no permission,
    someone else's directory): names the path and why."""


class ToolMissing(WaltportError):
    """An external program waltport drives is not installed."""

    def __init__(self, program: str, package: str) -> None:
        self.program = program
        self.package = package
        super().__init__(f"{program} not found: install the Debian package {package} "
                         f"(make test / make demo run scripts/bootstrap.sh, which does)")
