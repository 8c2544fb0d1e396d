"""``make demo``: a porting run on the built-in virtual boards.

Until the pipeline stage lands this renders and compiles the bootloader
artifacts of the virtual boards and says where they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

from waltport.bootloader.generate import generate_bootloader
from waltport.errors import WaltportError
from waltport.profile.load import load_profile
from waltport.util.paths import PROJECT_DIR

BOARDS = ("qemu-arm64", "qemu-x86-64")


def main() -> int:
    out = PROJECT_DIR / "reports" / "demo"
    try:
        for board in BOARDS:
            profile = load_profile(PROJECT_DIR / "boards" / f"{board}.yaml")
            manifest = generate_bootloader(profile, out / board / "bootloader")
            print(f"{board}: {len(manifest.artifacts)} bootloader artifacts in "
                  f"{Path(manifest.out_dir).relative_to(PROJECT_DIR)}")
    except WaltportError as err:
        print(f"demo: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
