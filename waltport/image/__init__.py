"""The default image stage: check, build, import into podman, export for the lab.

The API notebooks and other stages call (the CLI ``waltport image`` uses the same)::

    check_image(source, model, *, profile=None) -> CheckReport
    build_image(profile, *, base=None, rootfs=None, tag=None) -> BuiltImage   (a Profile)
    import_image(image_or_archive, model, *, out_dir) -> ImportResult
    export_rootfs(image, out_dir) -> Extracted (root dir, refused members)
"""

from waltport.image.build import BuiltImage, build_image
from waltport.image.checks import check_image, run_checks
from waltport.image.context import CheckReport, CheckResult
from waltport.image.importer import ImportResult, import_image
from waltport.image.tarball import export_rootfs

__all__ = [
    "BuiltImage",
    "CheckReport",
    "CheckResult",
    "ImportResult",
    "build_image",
    "check_image",
    "export_rootfs",
    "import_image",
    "run_checks",
]
