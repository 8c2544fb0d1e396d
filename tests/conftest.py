"""Shared test fixtures (areas keep their own fixtures in their test modules)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from waltport.util.environ import scoped_environ

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "boards"


@pytest.fixture
def boards_dir() -> Path:
    return BOARDS


def scoped_env(**values: str) -> contextlib.AbstractContextManager[None]:
    """Set environment variables for a block (module fixtures cannot use monkeypatch)."""
    return scoped_environ(values)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (this one excluded)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmd:
                found.append(cmd)
    return found


def boot_failures(report: dict[str, object]) -> str:
    """A failed boot report in a few lines: each failed boot's missed stage, its
    evidence, the error and the console's WALTPORT markers (CI logs are cut short)."""
    out: list[str] = []
    boots = report.get("boots")
    for boot in boots if isinstance(boots, list) else []:
        if boot.get("ok"):
            continue
        missed = next((s for s in boot.get("stages", []) if s.get("status") == "missed"), {})
        out.append(f"boot {boot.get('index')}: missed {boot.get('failed_stage')} "
                   f"(evidence {missed.get('evidence')}); error: {boot.get('error')}")
        log = boot.get("console_log")
        if isinstance(log, str) and Path(log).exists():
            marks = [ln for ln in Path(log).read_text(errors="replace").splitlines()
                     if "WALTPORT" in ln or "netconsole" in ln]
            out += [f"  console: {ln}" for ln in marks[-12:]]
        out += [f"  tail: {ln}" for ln in boot.get("console_tail", [])[-5:]]
    return "\n".join(out) or str(report)[-3000:]
