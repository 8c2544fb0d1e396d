"""``waltport image check|build|import``: the default image stage (same functions as the API)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from waltport.image.build import build_image
from waltport.image.checks import check_image
from waltport.image.context import CheckReport
from waltport.image.importer import import_image
from waltport.profile.load import load_profile
from waltport.util.outdir import prepare_out_dir
from waltport.util.paths import state_dir

MARK = {"pass": "PASS", "fail": "FAIL", "warn": "WARN"}


def format_report(report: CheckReport, *, verbose: bool = False) -> str:
    """Human-readable report: one line per check, evidence indented (all of it with -v)."""
    lines = [f"image {report.source} ({report.source_kind}) for model {report.model}, "
             f"arch {report.arch or '?'}"]
    for r in report.results:
        kind = "mandatory" if r.mandatory else "optional"
        lines.append(f"  {MARK[r.status]}  {r.name:<20} {kind}")
        shown = r.evidence if verbose or r.status != "pass" else r.evidence[:1]
        lines += [f"        {e}" for e in shown]
    failed = report.failed
    lines.append("result: all mandatory checks pass" if report.ok else
                 f"result: {len(failed)} mandatory check(s) fail: "
                 f"{', '.join(r.name for r in failed)}")
    return "\n".join(lines)


def _check(args: argparse.Namespace) -> int:
    report = check_image(args.source, args.model,
                         profile=load_profile(args.profile) if args.profile else None)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report, verbose=args.verbose))
    return 0 if report.ok else 1


def _build(args: argparse.Namespace) -> int:
    built = build_image(load_profile(args.profile), base=args.base, from_image=args.from_image,
                        rootfs=args.rootfs, tag=args.tag, model=args.model,
                        boot_files=args.boot_files, refresh=args.refresh)
    print(f"built {built.tag} ({built.image_id[:12]}, {built.arch}, {built.method})")
    print(f"  image ID {built.image_id}")
    if built.base and built.base.get("kind") == "debian":
        b = built.base
        archive = b.get("archive")
        dates = "; ".join(str(d) for d in archive) if isinstance(archive, list) else ""
        print(f"  Debian {b['suite']} {b['arch']} ({'cached' if b['cached'] else 'built now'}); "
              f"archive: {dates or 'not checked'}")
    for key in ("walt.node.models", "walt.server.minversion"):
        print(f"  {key}={built.labels.get(key, '(missing)')}")
    for note in built.notes:
        print(f"  note: {note}")
    print(f"next: waltport image import {built.tag} --model {built.models[0]}")
    return 0


def _import(args: argparse.Namespace) -> int:
    out = prepare_out_dir(args.out, "image import", force=args.force) if args.out \
        else state_dir() / "images"
    res = import_image(args.image, args.model, out_dir=out)
    if args.json:
        print(json.dumps(res.to_json(), indent=2))
        return 0
    print(f"tagged {res.tag} ({res.image_id[:12]}, {res.arch})")
    for key in ("walt.node.models", "walt.server.minversion"):
        print(f"  {key}={res.labels.get(key, '(missing)')} (read back after tagging)")
    print(f"  docker-archive: {res.docker_archive}")
    print(f"  oci-archive:    {res.oci_archive}")
    print("on the WalT server:")
    for cmd in res.server_commands:
        print(f"  {cmd}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    image = sub.add_parser("image", help="default image: check, build, import into podman")
    isub = image.add_subparsers(dest="image_command", metavar="IMAGE_COMMAND")
    isub.required = True

    p = isub.add_parser("check", help="run the default-image checks (nothing is executed)")
    p.add_argument("source", help="rootfs dir, rootfs tarball, docker-archive, oci-archive, "
                                  "or an image name/id in waltport's podman storage")
    p.add_argument("--model", required=True, help="node model the image must serve")
    p.add_argument("--profile", type=Path, help="board profile (default: the built-in one "
                                                "declaring the model)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("-v", "--verbose", action="store_true", help="all evidence lines")
    p.set_defaults(func=_check)

    p = isub.add_parser("build", help="assemble the default image of a profile with podman")
    p.add_argument("profile", type=Path, help="board profile (YAML)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--base", choices=("minimal", "debian"),
                     help="minimal (busybox + dropbear) or debian (mmdebstrap of image.suite); "
                          "default: the profile's image.base")
    src.add_argument("--from", dest="from_image", metavar="IMAGE",
                     help="put the boot tree on an image of podman storage (FROM IMAGE)")
    src.add_argument("--rootfs", type=Path, help="rootfs directory or tarball to import")
    p.add_argument("--model", help="build the image serving this sub-model: of its arch "
                                   "(model_arch), e.g. pc-x86-32 -> i386 (default: the "
                                   "family's arch)")
    p.add_argument("--tag", help="image name (default localhost/waltport/<profile>:latest, "
                                 "<profile>-<arch> for another arch)")
    p.add_argument("--refresh", action="store_true",
                   help="debian base: read the archive's state and rebuild the base if it "
                        "moved (default: the newest cached base, offline)")
    p.add_argument("--boot-files", type=Path, metavar="DIR",
                   help="directory of the files the profile's boot_files say the porter "
                        "supplies ({porter: NAME}); a model whose files are missing is left "
                        "out of the image")
    p.set_defaults(func=_build)

    p = isub.add_parser("import", help="tag as docker.io/waltplatform/<model>-default:latest "
                                       "and write archives for the server")
    p.add_argument("image", help="image name/id in podman storage, or a docker/oci archive")
    p.add_argument("--model", required=True)
    p.add_argument("--out", type=Path, help="directory for the archives "
                                            "(default <state>/images)")
    p.add_argument("--force", action="store_true",
                   help="use an existing non-empty --out directory waltport did not write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_import)
