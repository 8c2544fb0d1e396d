"""Assemble a default image from a board profile, with podman (through podman-py).

Four ways, same labels and ``/boot/<model>/`` layout:

- ``base`` ``minimal`` (the virtual boards' default): the small real rootfs of
  :mod:`waltport.image.rootfs` as one layer;
- ``base`` ``debian`` (the real boards' default): Debian by mmdebstrap
  (:mod:`waltport.image.debian`) plus a WalT layer (units, sshd, ``/boot``);
- ``from_image``: ``FROM <image>`` plus the second stage and the kernel/initrd
  links (the kernel files are found in the base image by reading it);
- ``rootfs``: a rootfs directory or tarball, with the profile's ``/boot`` added,
  as one layer.

All but ``from_image`` are written as OCI archives by waltport
(:mod:`waltport.image.oci`) and loaded: same inputs and ``SOURCE_DATE_EPOCH``,
same image ID (``FROM`` builds are podman's, stamped with the build time).  Nothing is
executed inside the image: no ``RUN``, no package script at image build time
(mmdebstrap runs the Debian base's own, in its chroot).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from waltport._version import __version__
from waltport.bootloader.render import render_artifacts
from waltport.image.bootfiles import BootFilesError, missing_porter_files, plan_boot_files
from waltport.image.debian import assemble_walt_layer, debian_base
from waltport.image.oci import Layer, image_config, layer_of, write_oci_archive
from waltport.image.oci import image_id as oci_image_id
from waltport.image.podman import PodmanError, PodmanService, open_source
from waltport.image.rootfs import (
    RootfsError,
    assemble_default_rootfs,
    image_models,
    served_models,
)
from waltport.image.sources import open_path, open_rootfs_dir
from waltport.image.tarball import write_rootfs_tar
from waltport.image.view import RootView
from waltport.profile.model import Bootloader, Profile
from waltport.util.atomic import write_text
from waltport.util.epoch import source_date_epoch
from waltport.util.paths import state_dir
from waltport.util.templating import render

MINVERSION = "4"
BASES = ("minimal", "debian")
ARM_VARIANT = {"armel": "v5", "armhf": "v7"}
# Profile arch -> OCI platform arch.
OCI_ARCH = {"arm64": "arm64", "arm": "arm", "x86_64": "amd64", "x86": "386"}


@dataclass(frozen=True)
class BuiltImage:
    """An image assembled in waltport's podman storage."""

    tag: str
    image_id: str
    arch: str
    labels: dict[str, str]
    method: str                     # containerfile | import
    models: tuple[str, ...]
    containerfile: str | None = None
    context_dir: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    base: dict[str, object] | None = None   # where the base layer came from (Debian: suite...)


def default_tag(profile: Profile, arch: str | None = None) -> str:
    """``localhost/waltport/<profile>:latest``; ``<profile>-<arch>`` for a sub-model's arch."""
    if arch is None or arch == str(profile.arch):
        return f"localhost/waltport/{profile.name}:latest"
    return f"localhost/waltport/{profile.name}-{arch}:latest"


def image_arch(profile: Profile, model: str | None) -> str:
    """The arch of the image that serves ``model`` (default: the family's)."""
    if model is None:
        return str(profile.arch)
    if model not in profile.all_models:
        raise RootfsError(f"--model {model}: not one of {profile.name}'s models "
                          f"{list(profile.all_models)}")
    return str(profile.arch_of(model))


def image_labels(profile: Profile, arch: str | None = None,
                 models: tuple[str, ...] | None = None) -> dict[str, str]:
    """The labels a WalT server reads (plus where the image came from)."""
    models = image_models(profile, arch) if models is None else models
    return {"walt.node.models": ",".join(models),
            "walt.server.minversion": MINVERSION, "waltport.profile": profile.name,
            "waltport.version": __version__}


def render_containerfile(profile: Profile, *, base: str, arch: str | None = None,
                         models: tuple[str, ...] | None = None) -> str:
    """The Containerfile text (pure)."""
    arch = arch or str(profile.arch)
    models = image_models(profile, arch) if models is None else models
    return render("image/Containerfile.j2", version=__version__, profile=profile,
                  arch=arch, base=base,
                  models=models, minversion=MINVERSION)


def _newest(view: RootView, prefix: str) -> str | None:
    names = sorted(n for n in view.children("/boot") if n.startswith(prefix))
    return names[-1] if names else None


def write_boot_overlay(profile: Profile, dest: Path, view: RootView | None,
                       arch: str | None = None) -> list[str]:
    """``boot/<model>/`` with the second stage and links to the kernel files of ``view``.

    Each model gets its own second stage (its boot command follows its
    kernel's format); the per-model dtbs of ``boot_files`` are the default
    build's (this path links the base image's newest kernel and initrd only).
    """
    script = "start.uboot" if profile.bootloader is Bootloader.UBOOT else "start.ipxe"
    notes = []
    s = profile.second_stage
    links = {s.kernel: _newest(view, "vmlinuz-") if view else None,
             s.initrd: _newest(view, "initrd.img-") if view else None}
    for model in image_models(profile, arch):
        d = dest / "boot" / model
        d.mkdir(parents=True, exist_ok=True)
        (d / script).write_bytes(render_artifacts(profile, model=model)[script])
        for name, target in links.items():
            if not name:
                continue
            if view is not None and view.get(f"/boot/{model}/{name}") is not None:
                continue
            if target is None:
                notes.append(f"no /boot/{'vmlinuz' if name == s.kernel else 'initrd.img'}-* "
                             f"in the base: /boot/{model}/{name} not created")
                continue
            (d / name).symlink_to(f"../{target}")
    return notes


def _build(svc: PodmanService, ctx: Path, tag: str, arch: str) -> str:
    try:
        image, _logs = svc.client.images.build(path=str(ctx), dockerfile="Containerfile",
                                               tag=tag, platform=f"linux/{OCI_ARCH[arch]}",
                                               rm=True, pull=False)
    except Exception as err:
        raise PodmanError(f"podman build of {tag} failed: {err}") from err
    return str(image.id)


def build_image(profile: Profile, *, base: str | None = None,
                from_image: str | None = None, rootfs: str | Path | None = None,
                tag: str | None = None, model: str | None = None,
                boot_files: str | Path | None = None, refresh: bool = False) -> BuiltImage:
    """Build the default image of a profile into waltport's podman storage.

    ``base`` is ``minimal`` or ``debian`` (default: the profile's
    ``image.base``); both are written as OCI archives by waltport, so the same
    inputs and ``SOURCE_DATE_EPOCH`` give the same image ID.  ``from_image``
    puts the boot tree on an image of podman storage instead (``FROM``), and
    ``rootfs`` takes a directory or tarball (reproducible too).  ``model`` picks the image by
    the sub-model it must serve: an image of that model's arch
    (``model_arch``), labelled with every model of that arch.  Default: the
    family's arch.  ``boot_files``: the directory of the files the profile
    says the porter supplies (a model whose files are not there is left out
    of the image, with a note).  ``refresh``: rebuild the Debian base if the
    archive moved (default: the newest cached base, no network).
    """
    arch = image_arch(profile, model)
    tag = tag or default_tag(profile, arch)
    porter_dir = Path(boot_files) if boot_files is not None else None
    if porter_dir is not None and not porter_dir.is_dir():
        raise BootFilesError(f"--boot-files {porter_dir}: not a directory")
    if base is not None and base not in BASES:
        raise RootfsError(f"--base {base!r}: one of {list(BASES)} (an image of podman "
                          "storage is --from IMAGE)")
    models = image_models(profile, arch)
    if from_image is None and rootfs is None:
        models = served_models(profile, arch, porter_dir)
        if not models:
            missing = missing_porter_files(plan_boot_files(profile, image_models(profile, arch)),
                                           porter_dir)
            raise BootFilesError(f"{profile.name}: no model can be built without the files the "
                              "porter supplies: " + "; ".join(
                                  f"{m}: {', '.join(f)}" for m, f in missing.items()) +
                              " (see boot_files in the profile; give their directory with "
                              "--boot-files DIR)")
    labels = image_labels(profile, arch, models)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=state_dir()))
    try:
        if rootfs is not None:
            with open_path(rootfs) as view:
                notes = write_boot_overlay(profile, work / "overlay", view, arch)
                write_rootfs_tar(view, work / "rootfs.tar", overlay=work / "overlay",
                                 mtime=source_date_epoch())
            # One deterministic layer through the OCI writer, as for the bases: the
            # same rootfs and SOURCE_DATE_EPOCH give the same image ID.
            layers = [layer_of(work / "rootfs.tar", f"waltport {__version__}: rootfs "
                               "imported, /boot added")]
            with PodmanService() as svc:
                image_id = _load_oci(svc, layers, tag, profile=profile, arch=arch,
                                     labels=labels, work=work)
                labels, real_arch = _read_back(svc, tag)
                return BuiltImage(tag, image_id, real_arch, labels, "import",
                                  models, notes=tuple(notes))
        if from_image is None:
            kind = base or profile.image.base
            layers, notes, origin = _base_layers(profile, kind, arch, porter_dir, work,
                                                   refresh=refresh)
            with PodmanService() as svc:
                image_id = _load_oci(svc, layers, tag, profile=profile, arch=arch,
                                     labels=labels, work=work)
                labels, real_arch = _read_back(svc, tag)
            return BuiltImage(tag, image_id, real_arch, labels, f"oci:{kind}", models,
                              notes=tuple(notes), base=origin)
        with open_source(from_image) as view:
            notes = write_boot_overlay(profile, work, view, arch)
        text = render_containerfile(profile, base=from_image, arch=arch)
        write_text(work / "Containerfile", text)
        with PodmanService() as svc:
            image_id = _build(svc, work, tag, arch)
            labels, real_arch = _read_back(svc, tag)
            return BuiltImage(tag, image_id, real_arch, labels, "containerfile",
                              models, text, None, tuple(notes))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _base_layers(profile: Profile, kind: str, arch: str, porter_dir: Path | None,
                 work: Path, *, refresh: bool) -> tuple[list[Layer], list[str], dict[str, object]]:
    """The layers of a ``minimal`` or ``debian`` image, as deterministic tarballs."""
    epoch = source_date_epoch()
    if kind == "debian":
        deb = debian_base(profile.userland_of(arch), suite=profile.image.suite,
                          extra=tuple(profile.image.packages), epoch=epoch, refresh=refresh)
        notes = assemble_walt_layer(profile, work / "walt", arch, porter_dir)
        write_rootfs_tar(open_rootfs_dir(work / "walt"), work / "walt.tar", mtime=epoch)
        origin: dict[str, object] = {
            "kind": "debian", "suite": deb.suite, "arch": deb.arch,
            "packages": list(deb.packages), "archive": list(deb.archive_dates),
            "cached": deb.cached, **({"note": deb.note} if deb.note else {})}
        if deb.note:
            notes.append(deb.note)
        return ([layer_of(deb.tarball, f"mmdebstrap {deb.suite} {deb.arch}"),
                 layer_of(work / "walt.tar", f"waltport {__version__}: WalT layer, /boot")],
                notes, origin)
    notes = assemble_default_rootfs(profile, work / "rootfs", arch, porter_dir)
    write_rootfs_tar(open_rootfs_dir(work / "rootfs"), work / "rootfs.tar", mtime=epoch)
    return ([layer_of(work / "rootfs.tar", f"waltport {__version__}: minimal rootfs")], notes,
            {"kind": "minimal", "arch": profile.userland_of(arch)})


def _load_oci(svc: PodmanService, layers: list[Layer], tag: str, *, profile: Profile,
              arch: str, labels: dict[str, str], work: Path) -> str:
    """Write the OCI archive and ``podman load`` it; the image ID, checked against ours."""
    epoch = source_date_epoch()
    config = image_config(layers, arch=OCI_ARCH[arch], labels=labels, created=epoch,
                          variant=ARM_VARIANT.get(profile.userland_of(arch)))
    archive = write_oci_archive(work / "image.oci.tar", layers, config, tag, mtime=epoch)
    svc.load(archive)
    got = str(svc.get_image(tag).id)
    if got != oci_image_id(config):
        raise PodmanError(f"podman stored {tag} as {got[:12]}, not the computed "
                          f"{oci_image_id(config)[:12]}: the image ID would not be reproducible")
    return got


def _read_back(svc: PodmanService, tag: str) -> tuple[dict[str, str], str]:
    """Labels and arch as podman stored them (OCI arch names mapped back to the profile's)."""
    image = svc.get_image(tag)
    oci = str(image.attrs.get("Architecture", ""))
    arch = next((k for k, v in OCI_ARCH.items() if v == oci), oci)
    return dict(image.labels or {}), arch
