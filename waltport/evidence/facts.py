"""Typed facts per stage: what each stage records in the ``data`` of ``<stage>.json``.

A stage builds its facts (a frozen dataclass) and the summary, the report,
the baseline and the other stages read them through these types, never by
picking string keys out of a dict.  ``to_json`` writes the same keys the
stage files have always had: a fact the stage did not record (None) is left
out, except where a stage records an explicit null with its group (the
boot's ``stand_in``, ``target``...).  ``from_json`` refuses a key the type
does not know, naming it.  Nested evidence owned by one stage (a pcap
analysis, a boot report, lint rows) stays JSON (:data:`Json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self, TypeAlias, TypeVar

from waltport.errors import WaltportError

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
JsonObject: TypeAlias = "dict[str, Json]"


class FactsError(WaltportError):
    """A stage's data does not fit that stage's facts (a key it does not have, a nested
    record that does not parse).  Scalar values are taken as written: the files are ours."""


def _plain(value: object) -> Json:
    """Pure: a field value as JSON (nested facts, tuples and mappings included)."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"not JSON: {type(value).__name__}")


@dataclass(frozen=True)
class Record:
    """A typed JSON object: its fields are its keys (see the module doc)."""

    # Keys written even when None, once the named key is recorded (its group).
    NULLS_WITH: ClassVar[tuple[str, tuple[str, ...]]] = ("", ())
    NESTED: ClassVar[Mapping[str, type[Record]]] = {}     # key -> record type (or list of)
    KEEP_LISTS: ClassVar[frozenset[str]] = frozenset()   # JSON blobs kept as they are

    def to_json(self) -> JsonObject:
        anchor, nulls = self.NULLS_WITH
        keep = set(nulls) if anchor and getattr(self, anchor) is not None else set()
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None or f.name in keep}

    @classmethod
    def from_json(cls, obj: object, source: str = "<json>") -> Self:
        if not isinstance(obj, Mapping):
            raise FactsError(f"{source}: {cls.__name__} is a JSON object, got "
                             f"{type(obj).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise FactsError(f"{source}: {cls.__name__} has no key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        try:
            return cls(**{k: cls._field_from_json(k, v) for k, v in obj.items()})
        except (TypeError, ValueError, KeyError) as err:
            raise FactsError(f"{source}: malformed {cls.__name__}: {err}") from err

    @classmethod
    def _field_from_json(cls, key: str, value: Any) -> object:
        """A JSON value as the field's value: lists become tuples, nested records parse."""
        nested = cls.NESTED.get(key)
        if value is None:
            return None
        if nested is not None:
            return tuple(nested.from_json(v, key) for v in value) if isinstance(value, list) \
                else nested.from_json(value, key)
        return tuple(value) if isinstance(value, list) and key not in cls.KEEP_LISTS else value


@dataclass(frozen=True)
class Facts(Record):
    """The facts of one stage: every stage may keep the traceback of a bug."""

    STAGE: ClassVar[str] = ""
    traceback: str | None = field(default=None, kw_only=True)

    def to_json(self) -> JsonObject:
        # The traceback is recorded last, when the stage broke: it comes last.
        out = super().to_json()
        tb = out.pop("traceback", None)
        return out if tb is None else {**out, "traceback": tb}


@dataclass(frozen=True)
class NoFacts(Facts):
    """A stage outside the registry (tests, skipped notebooks of a custom run)."""


@dataclass(frozen=True)
class BoardFacts(Facts):
    """The board profile as validated (``board.json``)."""

    STAGE: ClassVar[str] = "board"
    problems: tuple[str, ...] | None = None       # an invalid profile: every problem
    name: str | None = None
    description: str | None = None
    arch: str | None = None
    bootloader: str | None = None
    dhcp_identifier: str | None = None
    models: tuple[str, ...] | None = None
    identifiers: tuple[str, ...] | None = None
    profile_path: str | None = None
    profile_digest: str | None = None
    model: str | None = None                     # the one sub-model this run is about
    detect_rows: tuple[JsonObject, ...] | None = None


@dataclass(frozen=True)
class ArtifactHash(Record):
    """One bootloader artifact: must be the same bytes every run."""

    file: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class BootloaderFacts(Facts):
    STAGE: ClassVar[str] = "bootloader"
    NESTED: ClassVar[Mapping[str, type[Record]]] = {"artifacts": ArtifactHash}
    artifacts: tuple[ArtifactHash, ...] | None = None
    manifest: JsonObject | None = None
    lint: tuple[JsonObject, ...] | None = None


@dataclass(frozen=True)
class ImageFacts(Facts):
    """The default image built (or taken), checked and imported."""

    STAGE: ClassVar[str] = "image"
    built: JsonObject | None = None
    source: str | None = None
    models: tuple[str, ...] | None = None
    imports: tuple[JsonObject, ...] | None = None     # image.importer's ImportResult JSON
    labels: Mapping[str, str] | None = None
    digest: str | None = None
    reference: str | None = None
    archive: str | None = None
    import_commands: tuple[str, ...] | None = None
    archive_sha256: Mapping[str, str] | None = None

    @property
    def server_commands(self) -> list[str]:
        """Every import's server-side commands, in order (the first import's if none)."""
        lines = [str(c) for imp in self.imports or ()
                 for c in _list(imp.get("server_commands"))]
        return lines or list(self.import_commands or ())


def _list(value: Json) -> list[Json]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class TftpTransfer(Record):
    """A file served by TFTP as a capture shows it."""

    path: str
    bytes: int
    complete: bool
    client: str | None
    seconds: float | None
    blksize: int | None

    def to_json(self) -> JsonObject:
        # Every key, null included: the analysis has them all.
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class FetchedFile(Record):
    """A file a boot report says the board fetched (no capture detail)."""

    path: str | None
    bytes: int

    def to_json(self) -> JsonObject:
        return {"path": self.path, "bytes": self.bytes}


Served = TftpTransfer | FetchedFile


def served_from_json(obj: object, source: str) -> Served:
    """A capture's transfer (it says whether it completed) or a boot report's fetched file."""
    if isinstance(obj, Mapping) and "complete" in obj:
        return TftpTransfer.from_json(obj, source)
    return FetchedFile.from_json(obj, source)


@dataclass(frozen=True)
class BootRecord(Record):
    """The boot the network stage made, for the first boot to judge (``stages._boot``)."""

    report: str                   # boot-report.json, relative to the run dir
    image: str | None
    boots: int
    lab_name: str
    model: str
    bench: str
    isolated: bool
    profile_digest: str = ""      # the profile booted (an edited profile is another boot)

    def to_json(self) -> JsonObject:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class _WireFacts(Facts):
    """What both the network stage and the first boot say was on the wire."""

    FIELD_ORDER: ClassVar[tuple[str, ...]] = ()   # the order the stage records them in
    vci_seen: tuple[str, ...] | None = None
    uci_seen: tuple[str, ...] | None = None
    files_served: tuple[Served, ...] | None = None

    def to_json(self) -> JsonObject:
        # The fields of this shared base would come first: keep the stage's own order.
        out = super().to_json()
        return {k: out[k] for k in (*self.FIELD_ORDER, "traceback") if k in out}

    @classmethod
    def _field_from_json(cls, key: str, value: Any) -> object:
        if key == "files_served" and isinstance(value, list):
            return tuple(served_from_json(v, key) for v in value)
        return super()._field_from_json(key, value)


@dataclass(frozen=True)
class NetworkFacts(_WireFacts):
    """DHCP and TFTP on the wire (``network.json``)."""

    STAGE: ClassVar[str] = "network"
    NESTED: ClassVar[Mapping[str, type[Record]]] = {"boot": BootRecord}
    NULLS_WITH: ClassVar[tuple[str, tuple[str, ...]]] = ("lab_boot", ("stand_in",))
    mode: str | None = None
    image_root: str | None = None
    bench: str | None = None
    boot: BootRecord | None = None
    lab_boot: JsonObject | None = None
    stand_in: str | None = None
    analysis: JsonObject | None = None
    dhcp_rows: tuple[JsonObject, ...] | None = None

    FIELD_ORDER: ClassVar[tuple[str, ...]] = (
        "mode", "image_root", "bench", "boot", "lab_boot", "stand_in", "analysis",
        "vci_seen", "uci_seen", "files_served", "dhcp_rows")


@dataclass(frozen=True)
class FirstBootFacts(_WireFacts):
    """The boots judged until userspace and SSH (``first_boot.json``)."""

    STAGE: ClassVar[str] = "first_boot"
    NULLS_WITH: ClassVar[tuple[str, tuple[str, ...]]] = (
        "boots", ("target", "stand_in", "reliability", "stage_timings"))
    KEEP_LISTS: ClassVar[frozenset[str]] = frozenset({"stage_timings"})
    image_root: str | None = None
    boot_source: str | None = None
    target: str | None = None
    stand_in: str | None = None
    boots: int | None = None
    reached_userspace: int | None = None
    reliability: float | None = None
    stage_timings: Json = None
    boot: JsonObject | None = None        # the lab's BootReport JSON

    FIELD_ORDER: ClassVar[tuple[str, ...]] = (
        "image_root", "boot_source", "target", "stand_in", "vci_seen", "uci_seen",
        "files_served", "boots", "reached_userspace", "reliability", "stage_timings", "boot")

    @property
    def first_stage(self) -> str:
        """How the board got its first stage (a medium, flash, PXE...), "" when none booted."""
        return str((self.boot or {}).get("first_stage") or "")

    @property
    def booted_model(self) -> str:
        return str((self.boot or {}).get("model") or "")


@dataclass(frozen=True)
class ReportFacts(Facts):
    STAGE: ClassVar[str] = "report"
    ok: bool | None = None


FACTS: dict[str, type[Facts]] = {f.STAGE: f for f in (
    BoardFacts, BootloaderFacts, ImageFacts, NetworkFacts, FirstBootFacts, ReportFacts)}

F = TypeVar("F", bound=Facts)


def facts_type(stage: str) -> type[Facts]:
    """The facts type of ``stage`` (:class:`NoFacts` for a stage outside the registry)."""
    return FACTS.get(stage, NoFacts)


def field_names(kind: type[Facts]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))
