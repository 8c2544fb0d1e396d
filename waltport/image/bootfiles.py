"""Each model's kernel, dtb and initrd in the image: ``/boot/<model>/`` links to shared files.

Layout (every file stored once, whatever the number of models using it)::

    /boot/vmlinuz-<ver>, config-<ver>, initrd.img-<ver>   one per kernel
                                                           (vmlinuz-<ver>.gz: gzip'd for booti)
    /boot/dtbs/<ver>/<path in the kernel package>          the dtbs models use
    /boot/porter/<name>                                    files the porter supplied
    /boot/<model>/kernel -> ../vmlinuz-<ver>, dtb -> ../dtbs/<ver>/..., initrd -> ...

:func:`plan_boot_files` is pure (profile in, plan out); :func:`place_boot_files`
fetches the Debian kernels and writes the files.  A porter file that was not
given leaves its model out of the image (and out of ``walt.node.models``),
with a note naming the file; the image check names it too.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from waltport.errors import WaltportError
from waltport.host.apt import KernelFiles, fetch_kernel
from waltport.host.cpio import write_newc
from waltport.image import kconfig
from waltport.image.initramfs import NET_MODULES, initramfs_entries, resolve_modules
from waltport.profile.bootfiles import FLAVOURS, DtbSource, PorterFile
from waltport.profile.model import Profile

# Every initrd carries NFS and overlay (Debian builds them =m) and netconsole
# (the boot notification); the network driver is the board's.
BASE_MODULES = ("netconsole", "nfsv3", "overlay")
PORTER_INITRD = "initrd.img-porter"


class BootFilesError(WaltportError):
    """The profile's boot files cannot be provided (names the field and the file)."""

    exit_code = 2


@dataclass(frozen=True)
class ModelBoot:
    """What ``/boot/<model>/`` gets: kernel, dtb, extra files, initrd modules."""

    model: str
    kernel: str | PorterFile          # Debian flavour or the porter's file
    dtb: DtbSource | None
    files: tuple[tuple[str, DtbSource], ...]
    modules: tuple[str, ...]
    where: str                         # the profile field that says so

    def porter_files(self) -> list[PorterFile]:
        """Porter files the model cannot boot without (kernel, dtb)."""
        return [s for s in (self.kernel, self.dtb) if isinstance(s, PorterFile)]


def plan_boot_files(profile: Profile, models: tuple[str, ...]) -> tuple[ModelBoot, ...]:
    """Per model, the files its boot needs (pure)."""
    out = []
    for m in models:
        g = profile.boot_group(m)
        if g is None:
            out.append(ModelBoot(m, str(profile.kernel_of(m)), None, (), NET_MODULES,
                                 "arch (no boot_files entry)"))
            continue
        i = profile.boot_files.index(g)
        out.append(ModelBoot(m, g.kernel, g.dtb_of(m), tuple(sorted(g.files.items())),
                             tuple(g.modules) or NET_MODULES, f"boot_files[{i}]"))
    return tuple(out)


def missing_porter_files(plan: tuple[ModelBoot, ...],
                         porter_dir: Path | None) -> dict[str, list[str]]:
    """Model -> porter files not found in ``porter_dir`` (pure but for the existence test)."""
    out: dict[str, list[str]] = {}
    for mb in plan:
        lacking = [f.porter for f in mb.porter_files()
                   if porter_dir is None or not (porter_dir / f.porter).is_file()]
        if lacking:
            out[mb.model] = lacking
    return out


def initrd_problems(profile: Profile, configs: dict[str, str]) -> list[str]:
    """Kernels (version -> config text) that need an initrd the profile does not fetch."""
    if profile.second_stage.initrd:
        return []
    out = []
    for version, text in configs.items():
        bad = [v for v in kconfig.judge(kconfig.parse_config(text), initrd_modules=None)
               if not v.ok and v.value == "m"]
        if bad:
            out.append(f"kernel {version} has {', '.join(f'CONFIG_{v.option}=m' for v in bad)}"
                       " (modules need an initrd that loads them)")
    return out


@dataclass
class _Kernels:
    """Debian kernels fetched once per flavour, with the modules their initrd carries."""

    by_flavour: dict[str, KernelFiles] = field(default_factory=dict)
    modules: dict[str, list[str]] = field(default_factory=dict)

    def get(self, flavour: str) -> KernelFiles:
        if flavour not in self.by_flavour:
            self.by_flavour[flavour] = fetch_kernel("", flavour=flavour)
        return self.by_flavour[flavour]


def gzip_kernel(image: bytes) -> bytes:
    """The kernel gzip'd for booti (reproducible: no name, mtime 0)."""
    return gzip.compress(image, compresslevel=9, mtime=0)


def kernel_file_name(profile: Profile, flavour: str, version: str) -> str:
    """``vmlinuz-<ver>``, or ``vmlinuz-<ver>.gz`` when the profile sends arm64 Images gzip'd."""
    gz = profile.uboot is not None and profile.uboot.kernel_compression == "gzip" and \
        FLAVOURS[flavour][0] == "arm64"
    return f"vmlinuz-{version}.gz" if gz else f"vmlinuz-{version}"


def _copy_once(src: Path, dest: Path) -> None:
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def _rel(model_dir_target: str) -> str:
    return f"../{model_dir_target}"


def _place_source(src: DtbSource, kf: KernelFiles | None, boot: Path, porter_dir: Path | None,
                  field_path: str) -> str:
    """Copy a dtb/file source under ``boot`` once; its path relative to ``boot``."""
    if isinstance(src, PorterFile):
        assert porter_dir is not None
        _copy_once(porter_dir / src.porter, boot / "porter" / src.porter)
        return f"porter/{src.porter}"
    if kf is None or kf.dtb_dir is None:
        raise BootFilesError(f"{field_path}: {src!r} is a path in the Debian kernel package, "
                             "but this model's kernel is not a Debian package with dtbs")
    path = kf.dtb_dir / src
    if not path.is_file():
        raise BootFilesError(f"{field_path}: {src} is not in Debian's linux-image-{kf.version} "
                             f"(its dtbs are under {kf.dtb_dir.name}/): fix the path or "
                             "make it a porter file")
    _copy_once(path, boot / "dtbs" / kf.version / src)
    return f"dtbs/{kf.version}/{src}"


def place_boot_files(profile: Profile, plan: tuple[ModelBoot, ...], boot: Path, *,
                     busybox: bytes, porter_dir: Path | None) -> list[str]:
    """Write kernels, dtbs, initrds and the ``/boot/<model>/`` links; notes to report.

    Models whose porter files are missing are skipped (the caller leaves them
    out of the label).  Refuses, naming the fields, a kernel whose NFS/overlay
    support is modular when the profile's second stage loads no initrd.
    """
    s = profile.second_stage
    kernels = _Kernels()
    first_model: dict[str, str] = {}
    for mb in plan:
        if isinstance(mb.kernel, str):
            version = kernels.get(mb.kernel).version
            first_model.setdefault(version, mb.model)
            wanted = kernels.modules.setdefault(version, [])
            wanted += [m for m in (*mb.modules, *BASE_MODULES) if m not in wanted]
    configs = {kf.version: kf.config.read_text() for kf in kernels.by_flavour.values()
               if kf.config is not None}
    if problems := initrd_problems(profile, configs):
        raise BootFilesError(f"{profile.name}: second_stage.initrd is null, but "
                             f"{'; '.join(problems)}: set second_stage.initrd (e.g. initrd: "
                             "initrd; waltport builds it with those modules) or use kernels "
                             "with them built in (boot_files[].kernel)")
    missing = missing_porter_files(plan, porter_dir)
    notes: list[str] = []
    for flavour, kf in kernels.by_flavour.items():
        name = kernel_file_name(profile, flavour, kf.version)
        if name.endswith(".gz"):
            (boot / name).write_bytes(gzip_kernel(kf.image.read_bytes()))
        else:
            _copy_once(kf.image, boot / name)
        if kf.config is not None:
            _copy_once(kf.config, boot / f"config-{kf.version}")
        if s.initrd:
            mods = resolve_modules(kf.modules_dir, _available(kf, kernels.modules[kf.version],
                                                              notes))
            # Models sharing a kernel share its initrd, which names the first
            # of them in /etc/walt-model (a walt.model= argument overrides it).
            data = write_newc(initramfs_entries(
                busybox=busybox, modules=[(m.name, m.path.read_bytes()) for m in mods],
                model=first_model[kf.version]))
            (boot / f"initrd.img-{kf.version}").write_bytes(data)
    for mb in plan:
        if mb.model in missing:
            notes.append(f"{mb.model}: left out of the image: the porter supplies "
                         f"{', '.join(missing[mb.model])} ({mb.where}; give the directory "
                         "with --boot-files)")
            continue
        d = boot / mb.model
        d.mkdir(parents=True, exist_ok=True)
        mkf = kernels.get(mb.kernel) if isinstance(mb.kernel, str) else None
        if mkf is not None:
            assert isinstance(mb.kernel, str)
            (d / s.kernel).symlink_to(_rel(kernel_file_name(profile, mb.kernel, mkf.version)))
            if s.initrd:
                (d / s.initrd).symlink_to(_rel(f"initrd.img-{mkf.version}"))
        else:
            assert isinstance(mb.kernel, PorterFile) and porter_dir is not None
            _copy_once(porter_dir / mb.kernel.porter, boot / "porter" / mb.kernel.porter)
            (d / s.kernel).symlink_to(_rel(f"porter/{mb.kernel.porter}"))
            if s.initrd:
                # Its modules are unknown: an initrd with none, whose init still
                # configures the network and mounts the NFS root.
                if not (boot / PORTER_INITRD).exists():
                    (boot / PORTER_INITRD).write_bytes(write_newc(initramfs_entries(
                        busybox=busybox, modules=[], model=mb.model)))
                (d / s.initrd).symlink_to(_rel(PORTER_INITRD))
            notes.append(f"{mb.model}: porter kernel {mb.kernel.porter}: its initrd carries "
                         "no modules: the kernel needs its network driver, NFS and overlay "
                         "built in")
        if mb.dtb is not None and s.dtb:
            target = _place_source(mb.dtb, mkf, boot, porter_dir, f"{mb.where}.dtb")
            (d / s.dtb).symlink_to(_rel(target))
        for name, src in mb.files:
            if isinstance(src, PorterFile) and (porter_dir is None or
                                                not (porter_dir / src.porter).is_file()):
                # A file a run-time variable picks (one baseboard's dtb): the
                # model stays, the check names the file.
                notes.append(f"{mb.model}: /boot/{mb.model}/{name} not created: the porter "
                             f"supplies {src.porter} ({mb.where}.files)")
                continue
            target = _place_source(src, mkf, boot, porter_dir, f"{mb.where}.files.{name}")
            (d / name).symlink_to(_rel(target))
    return notes


def _available(kf: KernelFiles, wanted: list[str], notes: list[str]) -> list[str]:
    """The wanted modules this kernel ships (built-in drivers have no .ko: noted, skipped)."""
    names = {p.name.removesuffix(".ko").replace("-", "_")
             for p in kf.modules_dir.rglob("*.ko")}
    absent = [m for m in wanted if m.replace("-", "_") not in names]
    if absent:
        notes.append(f"kernel {kf.version}: no module {', '.join(absent)} (built in or "
                     "absent): not in its initrd")
    return [m for m in wanted if m.replace("-", "_") in names]
