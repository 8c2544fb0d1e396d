"""Default-image stage timings on the built-in virtual boards (inputs already cached).

    .venv/bin/python benchmarks/bench_image.py [--repeat 3]

For each board: ``build_image`` (Containerfile FROM scratch, podman build),
``import_image`` (tag, read back, docker-archive + oci-archive written), and
``check_image`` from podman storage, from the docker-archive and from the
exported rootfs directory.  Reference peer: GNU ``tar -x`` of the same
docker-archive and of its layer, the least an extract-then-inspect checker
has to do before it can look at one file.  Median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from waltport.image import build_image, check_image, export_rootfs, import_image
from waltport.profile.load import load_profile
from waltport.util.paths import boards_dir

BOARDS = (("qemu-arm64", "qemu-arm64"), ("qemu-x86-64", "pc-x86-64"))


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.monotonic()
        fn()
        runs.append(time.monotonic() - t)
    return statistics.median(runs)


def tar_extract(archive: str, dest: Path) -> None:
    """Reference: extract the archive, then every layer tar inside it."""
    subprocess.run(["tar", "-xf", archive, "-C", str(dest)], check=True)
    with tarfile.open(archive) as t:
        layers = [m.name for m in t if m.name.endswith(".tar")]
    root = dest / "rootfs"
    root.mkdir(exist_ok=True)
    for layer in layers:
        subprocess.run(["tar", "-xf", str(dest / layer), "-C", str(root)], check=True)


def bench_board(board: str, model: str, repeat: int) -> None:
    profile = load_profile(boards_dir() / f"{board}.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = {"build_image": timed(lambda: build_image(profile), repeat)}
        tag = f"localhost/waltport/{board}:latest"
        res = import_image(tag, model, out_dir=out)
        rows["import_image (tag + 2 archives)"] = timed(
            lambda: import_image(tag, model, out_dir=out), repeat)
        rows["check_image from podman storage"] = timed(lambda: check_image(res.tag, model),
                                                        repeat)
        rows["check_image from docker-archive"] = timed(
            lambda: check_image(res.docker_archive, model), repeat)
        root = export_rootfs(res.tag, out / "rootfs")
        rows["check_image from rootfs dir"] = timed(lambda: check_image(str(root), model),
                                                    repeat)

        def reference() -> None:
            with tempfile.TemporaryDirectory(dir=tmp) as d:
                tar_extract(res.docker_archive, Path(d))

        rows["reference: tar -x archive + layers"] = timed(reference, repeat)
        size = Path(res.docker_archive).stat().st_size / 1e6
        for step, sec in rows.items():
            print(f"| {board} ({size:.0f} MB archive) | {step} | {sec:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| board | step | median (s) |")
    print("|---|---|---|")
    for board, model in BOARDS:
        bench_board(board, model, args.repeat)


if __name__ == "__main__":
    main()
