"""*Pure.* The sidecar of a medium: what is on it, from where, and how to write it.

JSON for tools and the report, Markdown for people.  Only names relative to
the image are given (no host paths).  waltport never writes block devices:
the commands leave the device for the user to name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from waltport.media.plan import MediaError

DEVICE = "/dev/<your-card-or-key>"
JSON_SUFFIX, MD_SUFFIX = ".json", ".md"


def sidecar_paths(image: Path) -> tuple[Path, Path]:
    """The JSON and Markdown sidecars of ``image`` (``sdcard.img.json``, ``sdcard.img.md``)."""
    return image.with_name(image.name + JSON_SUFFIX), image.with_name(image.name + MD_SUFFIX)


def json_beside(sidecar: Path) -> Path:
    """The JSON sidecar of a medium, given either of its sidecars."""
    if sidecar.name.endswith(MD_SUFFIX):
        return sidecar.with_name(sidecar.name.removesuffix(MD_SUFFIX) + JSON_SUFFIX)
    return sidecar


@dataclass(frozen=True)
class Entry:
    """One item of the content list: a file on the partition or bytes at a sector."""

    path: str                    # partition path, or the raw binary's name
    size: int
    sha256: str
    package: str
    version: str
    non_free: bool = False
    sector: int | None = None    # raw binaries only


@dataclass(frozen=True)
class Sidecar:
    image: str
    size: int
    sha256: str
    profile: str
    model: str
    kind: str
    partition_start: int
    partition_sectors: int
    volume_id: str
    files: tuple[Entry, ...]
    raw: tuple[Entry, ...]
    notes: tuple[str, ...]
    source_date_epoch: int
    # The QEMU smoke test's findings (waltport.lab.cardcheck.CardCheck), when run.
    verification: dict[str, object] | None = field(default=None)

    @property
    def non_free(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.files if e.non_free)

    def write_commands(self) -> dict[str, str]:
        return {"dd": f"dd if={self.image} of={DEVICE} bs=4M conv=fsync status=progress",
                "bmaptool": f"bmaptool copy --nobmap {self.image} {DEVICE}"}

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k not in ("files", "raw")}
        data["partition"] = {"start_sector": data.pop("partition_start"),
                             "sectors": data.pop("partition_sectors"),
                             "type": "FAT16 (LBA, 0x0e)", "volume_id": data.pop("volume_id")}
        data["files"] = [_entry(e) for e in self.files]
        data["raw"] = [_entry(e) for e in self.raw]
        data["non_free"] = list(self.non_free)
        data["write"] = self.write_commands()
        return json.dumps(data, indent=2) + "\n"

    def to_markdown(self) -> str:
        lines = [f"# Boot medium {self.image}: {self.model} ({self.profile})", "",
                 f"- kind: {self.kind}",
                 f"- size: {self.size} bytes",
                 f"- sha256: `{self.sha256}`",
                 f"- boot partition: FAT16 from sector {self.partition_start}, "
                 f"{self.partition_sectors} sectors, volume id {self.volume_id}",
                 f"- SOURCE_DATE_EPOCH: {self.source_date_epoch}", ""]
        if self.raw:
            lines += ["## Raw binaries", "", "| sector | name | size | package | version "
                      "| sha256 |", "|---|---|---|---|---|---|"]
            lines += [f"| {e.sector} | {e.path} | {e.size} | {e.package} | {e.version} | "
                      f"`{e.sha256[:16]}` |" for e in self.raw]
            lines.append("")
        lines += ["## Files on the boot partition", "",
                  "| file | size | package | version | sha256 | non-free |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {e.path} | {e.size} | {e.package} | {e.version} | `{e.sha256[:16]}` | "
                  f"{'yes' if e.non_free else ''} |" for e in self.files]
        nonfree = self.non_free
        if nonfree:
            lines += ["", f"Non-free (Debian non-free-firmware): {', '.join(nonfree)}."]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        if self.verification is not None:
            v = self.verification
            lines += ["", f"## QEMU smoke test: {v['verdict']}", ""]
            lines += [f"- {k}: {v[k]}" for k in ("machine", "uboot", "board", "fdtfile",
                                                  "script_found", "detected", "expected",
                                                  "ended_at", "error") if v.get(k) is not None]
        cmds = self.write_commands()
        lines += ["", "## Write it", "",
                  "Name the device yourself (check with `lsblk`): everything on it is lost.",
                  "", "```", cmds["dd"], "# or", cmds["bmaptool"], "```", ""]
        return "\n".join(lines)


    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = "<sidecar>") -> Sidecar:
        """*Pure.* A sidecar read back (what :meth:`to_json` wrote); a clear error naming
        ``source`` and the field otherwise."""
        try:
            part = obj["partition"]
            side = cls(str(obj["image"]), int(obj["size"]), str(obj["sha256"]),
                       str(obj["profile"]), str(obj["model"]), str(obj["kind"]),
                       int(part["start_sector"]), int(part["sectors"]), str(part["volume_id"]),
                       tuple(_entry_of(e) for e in obj["files"]),
                       tuple(_entry_of(e) for e in obj["raw"]),
                       tuple(str(n) for n in obj["notes"]), int(obj["source_date_epoch"]),
                       dict(obj["verification"]) if obj.get("verification") else None)
        except KeyError as err:
            raise MediaError(f"{source}: not a medium sidecar (no {err.args[0]!r})") from err
        except (TypeError, ValueError, AttributeError) as err:
            raise MediaError(f"{source}: malformed medium sidecar: {err}") from err
        # What the report shows must be what the sidecar recorded, not a recomputation.
        if obj.get("write", side.write_commands()) != side.write_commands():
            raise MediaError(f"{source}: its write commands do not name its image "
                             f"{side.image!r}")
        return side


def _entry_of(obj: Mapping[str, Any]) -> Entry:
    sector = obj.get("sector")
    return Entry(str(obj["path"]), int(obj["size"]), str(obj["sha256"]), str(obj["package"]),
                 str(obj["version"]), bool(obj.get("non_free", False)),
                 None if sector is None else int(sector))


def _entry(e: Entry) -> dict[str, object]:
    d = asdict(e)
    if e.sector is None:
        del d["sector"]
    return d
