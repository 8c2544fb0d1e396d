"""*Pure.* The sidecar of a medium: what is on it, from where, and how to write it.

JSON for tools and the report, Markdown for people.  Only names relative to
the image are given (no host paths).  waltport never writes block devices:
the commands leave the device for the user to name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

DEVICE = "/dev/<your-card-or-key>"


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
    # The QEMU smoke test's findings (waltport.media.verify.CardCheck), when run.
    verification: dict[str, object] | None = field(default=None)

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
        data["non_free"] = [e.path for e in self.files if e.non_free]
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
        nonfree = [e.path for e in self.files if e.non_free]
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


def _entry(e: Entry) -> dict[str, object]:
    d = asdict(e)
    if e.sector is None:
        del d["sector"]
    return d
