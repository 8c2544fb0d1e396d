"""Put an image where a WalT server expects it: ``docker.io/waltplatform/<M>-default:latest``.

The labels are checked *before* tagging (an image whose ``walt.node.models``
does not list the model is never tagged), re-read *after* tagging from the
new name, and the docker-archive and oci-archive for transfer are written
atomically.  Any failure after the tag puts the name back where it was (or
removes it): a failed import leaves no half-tagged image.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waltport.image.oci import canonical_archive
from waltport.image.podman import PodmanError, PodmanService
from waltport.image.sources import looks_like_path
from waltport.profile.model import check_model_name
from waltport.util.epoch import source_date_epoch
from waltport.util.hashing import sha256_file


@dataclass(frozen=True)
class ImportResult:
    """What the import left in podman storage and on disk, and what to run on the server."""

    tag: str
    image_id: str
    labels: dict[str, str]
    arch: str
    docker_archive: str
    oci_archive: str
    archive_sha256: dict[str, str]
    server_commands: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "image_id": self.image_id, "labels": self.labels,
                "arch": self.arch, "docker_archive": self.docker_archive,
                "oci_archive": self.oci_archive, "archive_sha256": self.archive_sha256,
                "server_commands": list(self.server_commands)}


def default_image_name(model: str) -> str:
    """``docker.io/waltplatform/<model>-default:latest`` (model name checked)."""
    try:
        check_model_name(model)
    except ValueError as err:
        raise PodmanError(f"--model: {err}") from err
    return f"docker.io/waltplatform/{model}-default:latest"


def label_problems(labels: dict[str, str], model: str) -> list[str]:
    """Why these labels would make a WalT server ignore the image for ``model``."""
    raw = labels.get("walt.node.models")
    if raw is None:
        return ["no label walt.node.models"]
    if model not in raw.split(","):
        return [f"walt.node.models={raw!r} does not list {model}"]
    return []


def server_commands(docker_archive: Path, tag: str, image_id: str) -> tuple[str, ...]:
    """The exact commands to run on the WalT server after copying the archive there.

    The archive carries the name, so ``podman load`` restores it; the tag by
    image id makes the name right even if the archive was loaded by other means.
    """
    name = docker_archive.name
    return (
        f"scp {docker_archive} root@<walt-server>:/tmp/{name}",
        f"podman load -i /tmp/{name}",
        f"podman tag {image_id[:12]} {tag}",
        "walt image show --refresh",
        "walt advanced update-default-images   # only after later edits of a default image",
    )


def _untag(svc: PodmanService, ref: str, name: str) -> None:
    repo, _, tag = name.rpartition(":")
    try:
        resp = svc.client.api.post(f"/images/{ref}/untag", params={"repo": repo, "tag": tag})
        resp.raise_for_status()
    except Exception as err:
        raise PodmanError(f"podman: could not remove the tag {name} after a failed import "
                          f"(remove it by hand): {err}") from err


def _tag(svc: PodmanService, ref: str, name: str) -> None:
    repo, _, tag = name.rpartition(":")
    try:
        if not svc.get_image(ref).tag(repo, tag):
            raise PodmanError(f"podman refused to tag {ref} as {name}")
    except PodmanError:
        raise
    except Exception as err:
        raise PodmanError(f"podman: cannot tag {ref} as {name}: {err}") from err


def _previous(svc: PodmanService, name: str) -> str | None:
    try:
        return str(svc.get_image(name).id)
    except PodmanError:
        return None


def import_image(image_or_archive: str | Path, model: str, *, out_dir: str | Path
                 ) -> ImportResult:
    """Tag an image (in podman storage, or a docker/oci archive to load) as the default
    image of ``model``, re-read its labels, and write both archives into ``out_dir``."""
    name = default_image_name(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with PodmanService() as svc:
        source = str(image_or_archive)
        if looks_like_path(source):
            path = Path(source)
            if not path.is_file():
                raise PodmanError(f"{path}: no such archive")
            loaded = svc.load(path)
            if not loaded:
                raise PodmanError(f"{path}: podman loaded no image from it")
            source = loaded[0]
        image = svc.get_image(source)
        problems = label_problems(dict(image.labels or {}), model)
        if problems:
            raise PodmanError(f"{source} not tagged as {name}: {'; '.join(problems)}")
        previous = _previous(svc, name)
        _tag(svc, image.id, name)
        try:
            tagged = svc.get_image(name)
            labels = dict(tagged.labels or {})
            if tagged.id != image.id or (problems := label_problems(labels, model)):
                raise PodmanError(f"{name}: labels read back after tagging are wrong: "
                                  f"{'; '.join(problems) or 'points to another image'}")
            archives = {}
            for fmt, suffix in (("docker-archive", "docker.tar"), ("oci-archive", "oci.tar")):
                final = out / f"{model}-default.{suffix}"
                fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", dir=out)
                os.close(fd)
                try:
                    svc.save(name, Path(tmp), fmt)
                    if fmt == "oci-archive":      # podman dates its entries: same bytes
                        canonical_archive(Path(tmp), final, mtime=source_date_epoch())
                    else:
                        os.replace(tmp, final)
                finally:
                    Path(tmp).unlink(missing_ok=True)
                archives[fmt] = final
            arch = str(tagged.attrs.get("Architecture", ""))
        except BaseException:
            if previous is not None and previous != image.id:
                _tag(svc, previous, name)
            elif previous is None:
                _untag(svc, image.id, name)
            raise
    docker, oci = archives["docker-archive"], archives["oci-archive"]
    return ImportResult(name, str(image.id), labels, arch, str(docker), str(oci),
                        {docker.name: sha256_file(docker), oci.name: sha256_file(oci)},
                        server_commands(docker, name, str(image.id)))
