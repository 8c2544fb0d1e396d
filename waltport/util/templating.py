"""The one jinja2 environment factory: strict, boring, shared by every stage."""

from __future__ import annotations

from functools import cache

import jinja2

from waltport.errors import GenerationError
from waltport.util.paths import templates_dir


@cache
def environment() -> jinja2.Environment:
    """Templates under ``templates/``; an undefined name is an error, never blank."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(name: str, **context: object) -> str:
    """Render template ``name`` (e.g. ``uboot/boot.scr.txt.j2``) with ``context``."""
    try:
        return environment().get_template(name).render(**context)
    except jinja2.TemplateError as err:
        raise GenerationError(f"template {name}: {err}") from err
