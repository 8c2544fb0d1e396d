"""``waltport run`` (papermill batch of the stage notebooks) and ``waltport jupyter``."""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from waltport.commands.bundle import describe
from waltport.errors import UsageError
from waltport.pipeline.jupyter import ensure_lab_page_config, jupyter_environment

if TYPE_CHECKING:  # the runner pulls in nbformat/papermill (~1 s): only `run` pays for it
    from waltport.pipeline.runner import RunOutcome
from waltport.pipeline.registry import PIPELINE_STAGES, notebooks_dir, parse_params, select
from waltport.util.outdir import check_out_dir, prepare_out_dir


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the stage notebooks (papermill) and write the reports",
                       description="Run the stage notebooks for each PROFILE into DIR: executed "
                                   "notebooks, <stage>.json, summary.json, report.html, "
                                   "report.md, junit.xml.  Exit 1 when a mandatory check fails.")
    p.add_argument("profiles", nargs="+", metavar="PROFILE", help="board profile YAML")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--force", action="store_true",
                   help="use an existing non-empty --out directory waltport did not write")
    p.add_argument("--stages", metavar="LIST",
                   help=f"comma-separated subset of: {', '.join(s.name for s in PIPELINE_STAGES)}")
    p.add_argument("-p", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="notebook parameter (mode, interface, pcap, image_source, boots, ...)")
    p.add_argument("--bench", metavar="BENCH.yaml",
                   help="boot the real board of this bench file (same as -p bench=...)")
    p.add_argument("--i-know-this-network-is-isolated", dest="isolated", action="store_true",
                   help="--bench: serve DHCP on the bench interface (same as -p isolated=true)")
    p.add_argument("--models", metavar="LIST",
                   help="comma-separated sub-models: each runs as its own batch entry "
                        "(DIR/<profile>-<model>), e.g. pc-x86-64,pc-x86-32")
    p.add_argument("-j", dest="jobs", type=int, default=1, metavar="N",
                   help="batch entries (profiles, sub-models) run in parallel processes")
    p.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                   help="override every stage's per-cell timeout")
    p.add_argument("--baseline", metavar="OLD_RUN_DIR", default=None,
                   help="an earlier run (same --out layout): the report says which artifacts "
                        "are byte-identical to it and which differ")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    j = sub.add_parser("jupyter", help="JupyterLab on 127.0.0.1 with the stage notebooks",
                       description="Start JupyterLab on 127.0.0.1 in the notebooks dir, with a "
                                   "token and Jupyter's state under the waltport state dir.")
    j.add_argument("--port", type=int, default=8888)
    j.add_argument("--print-command", action="store_true",
                   help="print the command line instead of starting JupyterLab")
    j.set_defaults(func=cmd_jupyter)


def _progress_bar(total: int, disable: bool) -> tuple[tqdm, object]:
    # disable=None: no bar when stderr is not a terminal (CI logs stay readable).
    bar = tqdm(total=total, unit="stage", disable=True if disable else None, file=sys.stderr,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}] {postfix}")

    def progress(board: str, stage: str, status: str) -> None:
        if status == "start":
            bar.set_description(f"{board}: {stage}")
        else:
            bar.update(1)
            bar.set_postfix_str(f"{board}:{stage} {status}")
    return bar, progress


def cmd_run(args: argparse.Namespace) -> int:
    check_out_dir(args.out, force=args.force)   # before the slow imports: refuse at once
    from waltport.pipeline import runner  # noqa: PLC0415 (keeps every other command fast)
    from waltport.pipeline.bundle import write_bundle  # noqa: PLC0415

    for prof in args.profiles:
        if not Path(prof).is_file():
            raise UsageError(f"profile {prof}: no such file")
    if args.jobs < 1:
        raise UsageError("-j N: N must be at least 1")
    stages = select(args.stages.split(",") if args.stages else None)
    params = parse_params(args.params)
    bench = args.bench or params.get("bench")
    if bench:
        # The notebooks run in another directory: hand them an absolute path.
        if not Path(bench).is_file():
            raise UsageError(f"bench file {bench}: no such file")
        params["bench"] = str(Path(bench).resolve())
    if args.isolated:
        params["isolated"] = True
    models = check_models(args.profiles, args.models) if args.models else None
    if models and params.get("model"):
        raise UsageError("give --models or -p model=, not both")
    if args.baseline and not Path(args.baseline).is_dir():
        raise UsageError(f"--baseline {args.baseline}: no such run directory")
    entries = len(args.profiles) * (len(models) if models else 1)
    out = prepare_out_dir(args.out, "run", force=args.force)
    bar, progress = _progress_bar(len(stages) * entries, args.no_progress)
    try:
        if entries == 1 and not models:
            outcome: RunOutcome = runner.run_profile(args.profiles[0], out, stages=stages,
                                              params=params, cell_timeout=args.cell_timeout,
                                              progress=progress,  # type: ignore[arg-type]
                                              baseline=args.baseline)
        else:
            outcome = runner.run_batch(args.profiles, out, jobs=args.jobs, stages=stages,
                                params=params, cell_timeout=args.cell_timeout,
                                progress=progress, models=models,  # type: ignore[arg-type]
                                baseline=args.baseline)
    finally:
        bar.close()
    print_outcome(outcome)
    print(describe(write_bundle(outcome.run_dir)))
    return outcome.exit_code


def check_models(profiles: list[str], text: str) -> list[str]:
    """``--models a,b``: every name must be a model of every profile (usage error otherwise)."""
    from waltport.profile.load import load_profile  # noqa: PLC0415

    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models or len(set(models)) != len(models):
        raise UsageError(f"--models {text!r}: give distinct model names, comma-separated")
    for prof in profiles:
        known = load_profile(prof).all_models
        unknown = [m for m in models if m not in known]
        if unknown:
            raise UsageError(f"--models: {', '.join(unknown)} not in {prof}'s models "
                             f"({', '.join(known)})")
    return models


def print_outcome(outcome: RunOutcome) -> None:
    s = outcome.summary
    runs = s.get("runs") or [{"board": s.get("board", {}).get("name"), "ok": s.get("ok"),
                              "stages": {e["name"]: e["status"] for e in s.get("stages", [])}}]
    for r in runs:
        stages = " ".join(f"{k}:{v}" for k, v in r["stages"].items())
        board = f"{r['board']} ({r['model']})" if r.get("model") else r["board"]
        print(f"{'✔' if r['ok'] else '✘'} {board}: {stages}")
    print(f"reports ({outcome.seconds:.1f} s): {outcome.run_dir / 'report.html'}\n"
          f"                 {outcome.run_dir / 'report.md'}\n"
          f"                 {outcome.run_dir / 'summary.json'}")


def jupyter_command(port: int, token: str, *, as_root: bool = False) -> list[str]:
    """Pure: the JupyterLab command line (loopback only, token required)."""
    argv = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
            "--no-browser", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={notebooks_dir().parent}",
            "--LabApp.default_url=/lab/tree/notebooks/00-board.ipynb",
            # No "Jupyter news?" pop-up over the notebook, and no call out for it
            # or for update checks: the lab works offline.
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    # The lab stages need root, so waltport often runs as root; JupyterLab refuses
    # that unless told (it still listens on loopback only, behind the token).
    return [*argv, "--allow-root"] if as_root else argv


def cmd_jupyter(args: argparse.Namespace) -> int:
    token = os.environ.get("WALTPORT_JUPYTER_TOKEN") or secrets.token_hex(16)
    argv = jupyter_command(args.port, token, as_root=os.geteuid() == 0)
    with jupyter_environment() as env:
        ensure_lab_page_config(env)
        if args.print_command:
            print(" ".join(f"{k}={v}" for k, v in env.items()), " ".join(argv))
            return 0
        print(f"waltport jupyter: http://127.0.0.1:{args.port}/lab?token={token}", flush=True)
        try:
            return subprocess.run(argv, check=False, env=dict(os.environ)).returncode
        except KeyboardInterrupt:
            return 130
