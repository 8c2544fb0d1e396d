"""Stand-in runs: a virtual U-Boot board standing in for a board family the lab does not have.

A family whose detection reads a variable of the real board (``fdtfile``,
``board_name``, ``baseboardid``...) or whose second stage loads the board's
own dtb cannot be booted whole in the lab.  The part that does not need the
board can still be proven in real U-Boot: Debian's qemu_arm64 U-Boot gets
the variable's value (from the profile's ``samples``) in its stored
environment, next to the generated bootcommand, and runs detection -> DHCP
with ``walt.node.<model>`` -> ``start.uboot`` of ``boot/<model>/`` served and
executed.  What follows (the board's kernel, dtb, userspace) is reported as
"needs the board".  The image root of a stand-in run holds only the second
stage: the request for the next file is the proof the script ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from waltport.bootloader.render import render_artifacts
from waltport.errors import WaltportError
from waltport.lab.imageroot import second_stage_name
from waltport.lab.sequence import BOARD_STAGES
from waltport.profile.detect import detect
from waltport.profile.model import Bootloader, Profile, UBootDetect
from waltport.util.atomic import staged_dir


class StandInError(WaltportError):
    """No stand-in can show this model (no sample value selects it)."""

    exit_code = 2


@dataclass(frozen=True)
class StandIn:
    """The virtual U-Boot's settings standing in for ``model`` and why the board is needed."""

    model: str
    variables: dict[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()          # what of the real board the lab lacks
    arch: str = "arm64"                  # which of Debian's QEMU U-Boot builds: arm64 | arm
    image: str | None = None             # the image root served (None: the second stage only)

    def describe(self) -> str:
        given = ", ".join(f"{k}={v}" for k, v in self.variables.items())
        env = f" with {given} in its stored environment" if given else ""
        served = f"; it fetches the kernel and dtb of {self.image}" if self.image else ""
        return (f"Debian's qemu_{self.arch} U-Boot stands in for the {self.model} board{env}; "
                f"the lab lacks {' and '.join(self.needs)}{served}")

    @property
    def board_stages(self) -> tuple[str, ...]:
        """The stages only the real board can show (the kernel transfer too, without an image)."""
        return BOARD_STAGES if self.image is None else BOARD_STAGES[1:]


def _reads_board_variable(profile: Profile) -> bool:
    try:
        return detect(profile, {}, cpu_64bit=True).model is None
    except WaltportError:
        return True


def stand_in_for(profile: Profile, model: str) -> StandIn | None:
    """The stand-in for ``model`` when the lab cannot boot it whole (None: it can). Pure."""
    if profile.bootloader is not Bootloader.UBOOT:
        return None
    d = profile.detect if isinstance(profile.detect, UBootDetect) else None
    reads = d is not None and _reads_board_variable(profile)
    needs = [f"the board's {d.source} value"] if reads and d is not None else []
    if profile.second_stage.dtb:
        needs.append("the board to run its kernel and dtb")
    if not needs:
        return None
    variables: dict[str, str] = {}
    if reads and d is not None:
        value = next((v for v, m in profile.samples.items() if m == model), None)
        if value is None:
            raise StandInError(f"{profile.name}: no sample value of {d.source} selects "
                               f"{model!r}; add one to the profile's samples")
        variables[d.source] = value
    # The U-Boot build that boots the model's kernel: a 32-bit Pi's is a 32-bit one.
    arch = "arm" if profile.kernel_arch(model) == "arm" else "arm64"
    return StandIn(model, variables, tuple(needs), arch)


def build_standin_root(profile: Profile, model: str, out_dir: Path) -> Path:
    """An image root with only ``boot/<model>/<second stage>``: what a stand-in can fetch."""
    artifacts = render_artifacts(profile, model=model)
    script = second_stage_name(profile)
    with staged_dir(out_dir) as stage:
        boot = stage / "boot" / model
        boot.mkdir(parents=True)
        (boot / script).write_bytes(artifacts[script])
        if f"{script}.txt" in artifacts:
            (boot / f"{script}.txt").write_bytes(artifacts[f"{script}.txt"])
    return out_dir
