"""The pipeline's stage registry: which notebook runs each stage, what it needs, if mandatory.

A :class:`StageSpec` names a pipeline stage (a notebook and its stage function
in :mod:`waltport.stages`); the boot sequence's steps (:mod:`waltport.lab.sequence`)
are another thing.

Stages run in registry order.  A stage whose dependency did not pass is
recorded as ``skip`` without being run.  ``report`` depends on nothing: it
always runs, with whatever the others gathered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from waltport.errors import UsageError
from waltport.util.paths import PROJECT_DIR


@dataclass(frozen=True)
class StageSpec:
    name: str
    notebook: str                  # file name under the notebooks dir
    depends_on: tuple[str, ...] = ()
    mandatory: bool = True         # a failure here makes `waltport run` exit non-zero
    cell_timeout: float = 300.0    # seconds per cell before the kernel is stopped
    title: str = ""


PIPELINE_STAGES: tuple[StageSpec, ...] = (
    StageSpec("board", "00-board.ipynb", (), True, 60, "Board profile"),
    StageSpec("bootloader", "01-bootloader.ipynb", ("board",), True, 120, "Bootloader artifacts"),
    # The image comes before the network stage: the network stage boots the board
    # on the image this run imported, and the first boot judges that same boot
    # (waltport.stages._boot: one boot per run).
    StageSpec("image", "02-image.ipynb", ("board",), True, 600, "Default image"),
    StageSpec("network", "03-network.ipynb", ("bootloader",), True, 600,
          "Network: DHCP and TFTP on the wire"),
    StageSpec("first_boot", "04-first-boot.ipynb", ("network", "image"), True, 600,
          "First boot in the lab"),
    StageSpec("report", "05-report.ipynb", (), False, 120, "Report"),
)

# The parameters every stage notebook declares in its ``parameters`` cell,
# with their defaults.  ``waltport run -p key=value`` may set only these.
PARAMETERS: dict[str, Any] = {
    "profile": "",            # path of the board profile YAML
    "out_dir": ".",           # the run directory (stage JSON, artifacts, executed notebooks)
    "mode": "lab",            # lab | interface | pcap
    "interface": "",          # mode=interface: host interface to capture on (passive)
    "pcap": "",               # mode=pcap: an existing capture to analyse
    "image_source": "",       # "" builds the default image; else a podman ref or archive
    "image_base": "",         # minimal | debian ("" = the profile's image.base)
    "boots": 1,               # how many boots the first boot judges (reliability figures)
    "lab_name": "",           # network namespace name ("" derives one from the profile)
    "timeout": 120,           # seconds a boot may take
    "model": "",              # one sub-model of a family ("" = the family / the lab's default)
    "bench": "",              # a bench file: boot the real board on it instead of the lab's
    "isolated": False,        # bench: --i-know-this-network-is-isolated (serve on its interface)
}
MODES = ("lab", "interface", "pcap")


def stage_from_json(obj: Mapping[str, Any]) -> StageSpec:
    """A StageSpec back from ``dataclasses.asdict`` (as stored in run.json)."""
    return StageSpec(**{**obj, "depends_on": tuple(obj.get("depends_on", ()))})


def notebooks_dir() -> Path:
    return PROJECT_DIR / "notebooks"


def by_name(registry: Iterable[StageSpec] = PIPELINE_STAGES) -> dict[str, StageSpec]:
    return {s.name: s for s in registry}


def select(names: Iterable[str] | None,
           registry: tuple[StageSpec, ...] = PIPELINE_STAGES) -> tuple[StageSpec, ...]:
    """The stages to run, in registry order; unknown names are a usage error."""
    if names is None:
        return registry
    wanted = [n.strip().replace("-", "_") for n in names if n.strip()]
    known = by_name(registry)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UsageError(f"unknown stage(s) {', '.join(unknown)}: choose from "
                         f"{', '.join(known)}")
    return tuple(s for s in registry if s.name in wanted)


def parse_params(pairs: Iterable[str], known: Mapping[str, Any] = PARAMETERS) -> dict[str, Any]:
    """``["boots=3", "mode=pcap"]`` -> typed values (YAML scalars); unknown keys are refused."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"-p {pair!r}: expected key=value")
        if key not in known:
            raise UsageError(f"-p {key}: unknown parameter; known: {', '.join(known)}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        default = known[key]
        if isinstance(default, str):
            value = "" if value is None else str(raw)
        elif isinstance(default, int) and not isinstance(value, int):
            raise UsageError(f"-p {key}={raw}: expected an integer")
        out[key] = value
    if "mode" in out and out["mode"] not in MODES:
        raise UsageError(f"-p mode={out['mode']}: choose from {', '.join(MODES)}")
    return out
