"""What every check needs: the view, the model, the expected arch, and facts read once.

``CheckResult``/``CheckReport`` are the outputs; :class:`Context` caches the
second-stage analyses and binary headers so that each check stays a short
pure function of the context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from waltport.bootloader.scriptimage import ScriptImage, parse_script_image
from waltport.errors import ScriptImageError
from waltport.image.busybox import applets
from waltport.image.elf import ElfInfo, parse_elf
from waltport.image.stage2 import Stage2Analysis, analyse_ipxe, analyse_uboot
from waltport.image.view import ImageSourceError, RootView
from waltport.profile.model import Profile

PASS, FAIL, WARN = "pass", "fail", "warn"
PATH_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
# podman/OCI architecture names -> waltport's.
OCI_ARCH = {"arm64": "arm64", "aarch64": "arm64", "amd64": "x86_64", "386": "x86", "arm": "arm"}
ELF_READ = 8 << 20


@dataclass(frozen=True)
class CheckResult:
    """One named check: pass / fail / warn, whether it is mandatory, and evidence lines."""

    name: str
    status: str
    mandatory: bool
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "mandatory": self.mandatory,
                "evidence": list(self.evidence)}


@dataclass(frozen=True)
class CheckReport:
    """All checks of one image for one model; ``ok`` when no mandatory check failed."""

    source: str
    source_kind: str
    model: str
    arch: str | None
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return not any(r.mandatory and r.status == FAIL for r in self.results)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.mandatory and r.status == FAIL)

    def get(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "source_kind": self.source_kind, "model": self.model,
                "arch": self.arch, "ok": self.ok,
                "results": [r.to_json() for r in self.results]}


def expected_arch(profile: Profile | None, model: str, image_arch: str | None) -> str | None:
    """The arch binaries must have: the model's in the profile (``model_arch``, else ``arch``)."""
    if profile is not None:
        return str(profile.arch_of(model))
    return OCI_ARCH.get(image_arch or "")


@dataclass(frozen=True)
class SecondStage:
    """The second stage found in ``/boot/<model>``, decoded, or why it is not usable."""

    model: str
    path: str | None
    kind: str | None                  # uboot | ipxe
    image: ScriptImage | None = None
    analysis: Stage2Analysis | None = None
    chained: tuple[tuple[str, Stage2Analysis], ...] = ()
    problems: tuple[str, ...] = ()


@dataclass
class Context:
    view: RootView
    model: str
    profile: Profile | None = None
    _elf: dict[str, ElfInfo | None] = field(default_factory=dict)

    @cached_property
    def arch(self) -> str | None:
        return expected_arch(self.profile, self.model, self.view.arch)

    @cached_property
    def labels(self) -> dict[str, str]:
        return dict(self.view.labels)

    @cached_property
    def models(self) -> tuple[str, ...]:
        """Models the image declares, plus the one being checked."""
        raw = self.labels.get("walt.node.models", "")
        listed = [m.strip() for m in raw.split(",") if m.strip()]
        return tuple(dict.fromkeys([*listed, self.model]))

    @cached_property
    def stages(self) -> dict[str, SecondStage]:
        return {m: self._second_stage(m) for m in self.models}

    def _second_stage(self, model: str) -> SecondStage:
        d = f"/boot/{model}"
        want = str(self.profile.bootloader) if self.profile is not None else None
        for kind, name in (("uboot", "start.uboot"), ("ipxe", "start.ipxe")):
            path = f"{d}/{name}"
            if (want and want != kind) or not self.view.resolve(path, tftp=True).ok:
                continue
            try:
                data = self.view.read(path)
            except ImageSourceError as err:
                return SecondStage(model, path, kind, problems=(str(err),))
            if kind == "uboot":
                try:
                    img = parse_script_image(data, path)
                except ScriptImageError as err:
                    return SecondStage(model, path, kind, problems=err.defects)
                text = img.script.decode("utf-8", "replace")
                return SecondStage(model, path, kind, img, analyse_uboot(text))
            text = data.decode("utf-8", "replace")
            if not text.startswith("#!ipxe"):
                return SecondStage(model, path, kind, problems=(
                    f"{path} does not start with #!ipxe (starts with {text[:16]!r})",))
            first = analyse_ipxe(text)
            return SecondStage(model, path, kind, None, first, self._chained(model, first))
        names = "start.uboot" if want == "uboot" else "start.ipxe" if want else \
            "start.uboot or start.ipxe"
        return SecondStage(model, None, None, problems=(f"{d}/ has no {names}",))

    def _chained(self, model: str, first: Stage2Analysis) -> tuple[tuple[str, Stage2Analysis],
                                                                     ...]:
        # iPXE second stages chain further scripts (WalT's start.ipxe chains a
        # generic one): analyse those found in the image, a few levels deep.
        out: list[tuple[str, Stage2Analysis]] = []
        todo = [first]
        seen: set[str] = set()
        while todo and len(seen) < 8:
            cur = todo.pop(0)
            for f in cur.fetches:
                if f.role != "script" or f.name is None or f.name in seen or f.external:
                    continue
                seen.add(f.name)
                path = f"/boot/{model}/{f.name}"
                if not self.view.is_file(path):
                    continue
                text = self.view.read(path, 1 << 20).decode("utf-8", "replace")
                if text.startswith("#!ipxe"):
                    nxt = analyse_ipxe(text, cur.env)
                    out.append((f.name, nxt))
                    todo.append(nxt)
        return tuple(out)

    def elf(self, path: str) -> ElfInfo | None:
        """ELF header of the file at ``path`` (links followed), None if absent or not ELF."""
        if path not in self._elf:
            info = None
            if self.view.is_file(path):
                info = parse_elf(self.view.read(path, ELF_READ))
            self._elf[path] = info
        return self._elf[path]

    @cached_property
    def busybox_applets(self) -> tuple[str, ...]:
        if not self.view.is_file("/bin/busybox"):
            return ()
        return applets(self.view.read("/bin/busybox"))

    def which(self, command: str) -> str | None:
        """First PATH directory entry for ``command`` that resolves to a file."""
        for d in PATH_DIRS:
            if self.view.is_file(f"{d}/{command}"):
                return f"{d}/{command}"
        return None

    def text(self, path: str, limit: int = 1 << 20) -> str:
        """A text file's content, or "" when it is absent."""
        if not self.view.is_file(path):
            return ""
        return self.view.read(path, limit).decode("utf-8", "replace")
