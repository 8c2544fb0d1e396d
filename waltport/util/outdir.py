"""The one rule for every ``--out``: waltport replaces only what it wrote.

A directory waltport writes holds a marker file (:data:`MARKER`).  An
existing directory that is not empty and has no marker belongs to someone
else: it is refused, unless ``force``, and then waltport writes its files
into it and touches nothing else (it never deletes a file it did not write).
An output that is a file, under a file, or under a directory waltport cannot
write is an :class:`OutputError` (exit 2) before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from waltport.errors import OutputError
from waltport.util.atomic import staged_dir, write_text

MARKER = ".waltport-output"


def _writable_ancestor(path: Path, shown: str) -> Path:
    """The nearest existing ancestor of ``path``; OutputError unless it is a writable dir."""
    anc = path.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{shown}: {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: cannot write in {anc} (permission denied)")
    return anc


def is_ours(path: Path) -> bool:
    """True when ``path`` is a directory waltport wrote (it holds the marker)."""
    return (path / MARKER).is_file() and not (path / MARKER).is_symlink()


def check_out_dir(path: str | Path, *, force: bool = False, option: str = "--out") -> Path:
    """Edge (reads the file system): the absolute output directory, or OutputError.

    ``.``, ``..`` and links in the given path are resolved first, so the
    checks (and any staging directory next to it) see the real place.
    """
    shown = f"{option} {path}"
    p = Path(path).expanduser().resolve()
    if p.exists() and not p.is_dir():
        raise OutputError(f"{shown}: {p} exists and is not a directory")
    if p == Path(p.anchor):
        raise OutputError(f"{shown}: not the root directory")
    _writable_ancestor(p, shown)
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError(f"{shown}: cannot write in {p} (permission denied)")
        if not force and not is_ours(p) and any(p.iterdir()):
            raise OutputError(
                f"{shown}: {p} is not empty and was not written by waltport (no {MARKER} "
                "in it): refusing to replace it; pick a new directory, or pass --force to "
                "write into it (files of the same name are replaced, nothing else is touched)")
    return p


def check_out_file(path: str | Path, *, option: str = "output") -> Path:
    """Edge: the absolute path of an output file, or OutputError (a dir, under a file...)."""
    shown = f"{option} {path}"
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        raise OutputError(f"{shown}: {p} is a directory")
    if p.exists() and not p.is_file():
        raise OutputError(f"{shown}: {p} exists and is not a regular file")
    _writable_ancestor(p, shown)
    return p


def mark(path: Path, command: str) -> None:
    """Write the marker into ``path`` (no time in it: same inputs, same bytes)."""
    write_text(path / MARKER, json.dumps({"written_by": "waltport", "command": command}) + "\n")


def prepare_out_dir(path: str | Path, command: str, *, force: bool = False) -> Path:
    """Check ``path`` (:func:`check_out_dir`), create it if needed, mark it as ours
    unless it holds files of someone else (``force``)."""
    p = check_out_dir(path, force=force)
    try:
        foreign = p.is_dir() and not is_ours(p) and any(p.iterdir())
        p.mkdir(parents=True, exist_ok=True)
        if not foreign:
            mark(p, command)
    except OSError as err:
        raise OutputError(f"--out {path}: {err.strerror or err}") from err
    return p


def _merge(stage: Path, dest: Path) -> None:
    """Move the staged files into ``dest`` one by one (a directory that is not ours)."""
    names = sorted(os.listdir(stage))
    clash = [n for n in names if (dest / n).is_dir() and not (dest / n).is_symlink()]
    if clash:
        raise OutputError(f"--out {dest}: {', '.join(clash)} exist(s) there as directories")
    for n in names:
        os.replace(stage / n, dest / n)
    shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def output_dir(path: str | Path, command: str, *, force: bool = False) -> Iterator[Path]:
    """Yield a staging directory; on success it becomes ``path`` (with the marker).

    A new path, or a directory of ours, is replaced as a whole; any other
    existing directory (empty, or foreign with ``force``) stays where it is
    (it may be the current directory) and receives the files, keeping its
    own; a foreign one gets no marker, since it is still not all ours.  On
    any failure the staging directory is removed and ``path`` is untouched.
    """
    dest = check_out_dir(path, force=force)
    if not dest.exists() or is_ours(dest):
        with staged_dir(dest) as stage:
            yield stage
            mark(stage, command)
        return
    foreign = any(dest.iterdir())
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest))
    except OSError as err:
        raise OutputError(f"--out {path}: {err.strerror or err}") from err
    try:
        yield stage
        if not foreign:
            mark(stage, command)
        _merge(stage, dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
