"""Project-owned Jupyter paths and the venv's kernelspec (nothing is written to $HOME)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from waltport.util.atomic import write_text
from waltport.util.environ import scoped_environ
from waltport.util.paths import state_dir

KERNEL_NAME = "waltport"
# JupyterLab's "Would you like to get notified about official Jupyter news?"
# toast covers the notebook on first start (news_url=None does not stop it).
DISABLED_LAB_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)


def jupyter_env(root: Path | None = None) -> dict[str, str]:
    """JUPYTER_* and IPYTHONDIR under ``root`` ($WALTPORT_JUPYTER_DIR or ``<state>/jupyter``)."""
    env_root = os.environ.get("WALTPORT_JUPYTER_DIR")
    base = (root or (Path(env_root) if env_root else state_dir() / "jupyter")).resolve()
    return {"JUPYTER_CONFIG_DIR": str(base / "config"),
            "JUPYTER_DATA_DIR": str(base / "data"),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "IPYTHONDIR": str(base / "ipython"),
            # Kernels plot with matplotlib, whose font cache would land in $HOME.
            "MPLCONFIGDIR": str(base / "matplotlib"),
            # Opt in to the new path scheme jupyter_core warns about (explicit dirs above win).
            "JUPYTER_PLATFORM_DIRS": "1"}


def kernelspec(python: str = sys.executable) -> dict[str, object]:
    """Pure: a kernelspec running ipykernel with ``python`` (the venv's interpreter)."""
    # Warnings of the kernel app itself (e.g. "running over TCP": the kernel only
    # listens on 127.0.0.1) would garble the progress bar; cell output is unaffected.
    return {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=CRITICAL"],
            "display_name": "waltport (venv)", "language": "python",
            "metadata": {"debugger": False}}


def ensure_kernelspec(env: dict[str, str], python: str = sys.executable) -> Path:
    """Register the ``waltport`` kernel in the project's JUPYTER_DATA_DIR."""
    path = Path(env["JUPYTER_DATA_DIR"]) / "kernels" / KERNEL_NAME / "kernel.json"
    text = json.dumps(kernelspec(python), indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    return path


def ensure_lab_page_config(env: dict[str, str]) -> Path:
    """JupyterLab's page config in the project's JUPYTER_CONFIG_DIR: the news plugin off."""
    path = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig" / "page_config.json"
    text = json.dumps({"disabledExtensions": dict.fromkeys(DISABLED_LAB_PLUGINS, True)},
                      indent=1) + "\n"
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    return path


@contextlib.contextmanager
def jupyter_environment(root: Path | None = None) -> Iterator[dict[str, str]]:
    """Set the project's Jupyter paths in ``os.environ`` (kernels inherit them), then restore."""
    env = jupyter_env(root)
    ensure_kernelspec(env)
    with scoped_environ(env):
        yield env
