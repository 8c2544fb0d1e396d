"""The profile's ``media`` section: what goes on the card or key a porter writes.

``kind`` picks the layout (Raspberry Pi firmware card, PC USB key, or a U-Boot
board whose binaries sit at fixed sectors before the boot partition); the
default follows the bootloader.  A binary comes from a Debian package
(``package`` + ``path`` inside it, fetched for the profile's arch) or from the
porter (``file``, relative to the profile).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SECTOR = 512
MBR_SECTORS = 1


class MediaBinary(BaseModel):
    """One U-Boot binary written raw at ``sector`` (e.g. Rockchip idbloader.img at 64)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    sector: int = Field(ge=MBR_SECTORS, description="first 512-byte sector (0 is the MBR)")
    package: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.+-]+$")
    path: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MediaBinary:
        if (self.package is None) != (self.path is None):
            raise ValueError("give 'package' and 'path' (a Debian package's file) together")
        if (self.package is None) == (self.file is None):
            raise ValueError("give either package+path (Debian) or file (porter-supplied)")
        for p in (self.path, self.file):
            if p is not None and (".." in p.split("/") or not p.strip()):
                raise ValueError(f"{p!r}: no '..' components")
        return self


class MediaSettings(BaseModel):
    """Layout of the written medium (every key optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["raspberrypi", "pc-usb", "uboot"] | None = None
    image_mib: int | None = Field(default=None, ge=8, le=4096)
    partition_start: int = Field(default=2048, ge=64, description="boot partition, in sectors")
    binaries: list[MediaBinary] = Field(default_factory=list)
