"""Where waltport keeps things: the source tree's data folders and the state dir."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = PACKAGE_DIR.parent


def templates_dir() -> Path:
    """The jinja2 templates (``templates/`` at the top of the project)."""
    return Path(os.environ.get("WALTPORT_TEMPLATES", PROJECT_DIR / "templates"))


def boards_dir() -> Path:
    """Built-in board profiles."""
    return PROJECT_DIR / "boards"


def state_dir() -> Path:
    """Mutable state (registries, podman storage, caches): ``$WALTPORT_STATE`` or ./state."""
    d = Path(os.environ.get("WALTPORT_STATE", PROJECT_DIR / "state"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def cache_dir() -> Path:
    """Downloaded inputs (Debian packages) shared by runs, checkouts and fresh clones.

    ``$WALTPORT_CACHE``, else ``$XDG_CACHE_HOME/waltport``, else ``~/.cache/waltport``:
    outside the checkout, so a new clone (or a CI run on a machine that keeps
    its home) reuses what an earlier one fetched.  Every writer takes a file
    lock and renames complete trees into place, so checkouts may share it.
    """
    env = os.environ.get("WALTPORT_CACHE")
    if env:
        d = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        d = (Path(xdg) if xdg else Path.home() / ".cache") / "waltport"
    d.mkdir(parents=True, exist_ok=True)
    return d
