"""Boot a real board on a bench: the bench file's power, serial console and host interface.

The same sequence as the virtual board (:func:`waltport.lab.drive.drive`);
only the target differs.  ``interface`` link: the bench server serves the
image root on the interface (the LAN guard applies; a serving link never
carries the default route), the board's own first stage (SD card, flash)
finds it; a PC's PXE ROM gets the generated ``boot.ipxe``.  ``passive``
link: nothing is served, not a packet is sent; the verdicts come from the
capture (and the console, when there is one).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from waltport.image.rootfs import assemble_default_rootfs
from waltport.lab.bench import Bench, load_bench
from waltport.lab.boot import (
    DEFAULT_TIMEOUT,
    BootFailed,
    BootReport,
    FirstStage,
    expected_of,
    first_stage,
    fresh_out_dir,
    resolve_model,
)
from waltport.lab.drive import BootRun, drive
from waltport.lab.imageroot import ImageRootError, build_image_root, check_image_root
from waltport.lab.login import ImageLogin, has_own_init, login_key
from waltport.lab.sequence import Observability
from waltport.lab.target.link import HostLink
from waltport.lab.target.ports import ConsolePort, Power, Target
from waltport.lab.target.power import CommandPower, ManualPower, NoPower
from waltport.lab.target.serial import SerialConsole
from waltport.net.server import BenchServer, ServeOn
from waltport.profile.model import Bootloader, Profile
from waltport.util.atomic import write_text

NO_CONSOLE = "no console in the bench file"
PASSIVE_LOGIN = "a passive link sends nothing, so waltport does not log in"


def bench_power(bench: Bench) -> Power:
    """The power port the bench file describes."""
    if bench.power == "manual":
        return ManualPower()
    if bench.power is None:
        return NoPower()
    return CommandPower(bench.power.on, bench.power.off, bench.power.cycle)


def bench_console(bench: Bench, log: Path) -> ConsolePort | None:
    """The console port the bench file describes (None: no console)."""
    if bench.console is None:
        return None
    if not Path(bench.console.port).exists():
        raise BootFailed(f"console: {bench.console.port} does not exist (is the USB-serial "
                         "adapter plugged in? `ls /dev/serial/by-id/`)")
    return SerialConsole(bench.console.port, bench.console.baud, log)


def bench_observability(bench: Bench, *, login: bool) -> Observability:
    """What this bench can observe (pure)."""
    passive = bench.link.mode == "passive"
    return Observability(console=NO_CONSOLE if bench.console is None else None,
                         login=PASSIVE_LOGIN if passive else None,
                         image_stages=login or (passive and bench.console is not None))


@contextlib.contextmanager
def _server(link: HostLink, root: Path, first: FirstStage, state: Path) \
        -> Iterator[BenchServer | None]:
    if not link.serves:
        yield None
        return
    on = ServeOn(link.netns, link.name, None, link.isolated_ack)
    with BenchServer(on, root, pxe_first_stage=first.pxe, state=state) as server:
        yield server


def _image_root(profile: Profile, model: str, image_root: str | Path | None, out: Path, *,
                serves: bool, default_image: bool) -> Path:
    if image_root is not None:
        root = Path(image_root)
    elif serves and default_image:
        root = out / "default-image"
        assemble_default_rootfs(profile, root, str(profile.arch_of(model)))
    elif serves:
        try:
            root = build_image_root(profile, model, out / "image-root")
        except ImageRootError as err:
            raise BootFailed(f"{err}: give the board's image root with --image-root") from err
    else:
        return out          # passive: nothing is served
    check_image_root(root, profile, model)
    return root


def boot_bench(profile: Profile, bench: str | Path | Bench, *,
               image_root: str | Path | None = None, boots: int = 1,
               timeout: float = DEFAULT_TIMEOUT, out_dir: str | Path | None = None,
               model: str | None = None, isolated_ack: bool = False,
               image_login: bool | None = None, default_image: bool = False) -> BootReport:
    """Boot the real board of ``bench`` ``boots`` times through the sequence; the report.

    ``model``: which model of the family is on the bench (default: the bench
    file's, else the profile's only one).  ``default_image``: serve the
    profile's default image (assembled without podman) instead of the lab's
    kernel and initramfs.  Errors of the bench (interface,
    tty, power command) are raised after everything started was stopped;
    what the board does is recorded in the report.
    """
    b = bench if isinstance(bench, Bench) else load_bench(bench)
    model = resolve_model(profile, model or b.model)
    if boots < 1:
        raise BootFailed(f"--boots must be at least 1, not {boots}")
    out = (Path(out_dir) if out_dir else Path("build") / "bench" / b.name).resolve()
    out.mkdir(parents=True, exist_ok=True)
    fresh_out_dir(out)
    if b.console is not None:
        bench_console(b, out / "console.log")      # the tty exists, before anything starts
    link = HostLink(b.link.interface, b.link.server_ip, serves=b.link.mode == "interface",
                    isolated_ack=isolated_ack)
    root = _image_root(profile, model, image_root, out, serves=link.serves,
                       default_image=default_image)
    first = first_stage(profile, out) if profile.bootloader is Bootloader.IPXE \
        else FirstStage("board")
    if image_login is None:
        image_login = link.serves and has_own_init(root)
    login_wanted = bool(image_login and link.serves)
    seen = bench_observability(b, login=login_wanted)
    runs: list[BootRun] = []
    with (login_key() if login_wanted else contextlib.nullcontext()) as key, \
            link.attach(), _server(link, root, first, out / "server-state") as server:
        login = ImageLogin(root.resolve(), key) if key is not None else None
        for i in range(boots):
            run_dir = out / f"boot-{i}"
            target = Target(bench_power(b), bench_console(b, run_dir / "console.log"), link,
                            b.mac)
            runs.append(drive(target, server, expected_of(profile, model), index=i,
                              run_dir=run_dir, timeout=timeout, login=login, seen=seen))
    report = BootReport(profile.name, model, str(root) if link.serves else "", str(out),
                        tuple(runs), first.mode, target=f"bench {b.name} ({link.kind})")
    write_text(out / "boot-report.json", json.dumps(report.to_json(), indent=2) + "\n")
    return report

