"""waltport: take a new kind of board from nothing to a booting WalT node, with evidence.

The small public API; the CLI and the notebooks use these same functions.
"""

from waltport._version import __version__
from waltport.bootloader.generate import generate_bootloader
from waltport.bootloader.lint import lint_profile
from waltport.bootloader.render import render_artifacts
from waltport.errors import WaltportError
from waltport.profile.detect import detect
from waltport.profile.load import load_profile, parse_profile

__all__ = [
    "WaltportError",
    "__version__",
    "detect",
    "generate_bootloader",
    "lint_profile",
    "load_profile",
    "parse_profile",
    "render_artifacts",
]
