"""``SOURCE_DATE_EPOCH``: the only clock waltport's artifacts see."""

from __future__ import annotations

import os

from waltport.errors import WaltportError


class EpochError(WaltportError):
    """``SOURCE_DATE_EPOCH`` is set but is not a non-negative integer."""

    exit_code = 2


def declared_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` when set (None when unset or empty). *Edge: reads the environment.*"""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as err:
        raise EpochError(f"SOURCE_DATE_EPOCH={raw!r} is not an integer") from err
    if value < 0:
        raise EpochError(f"SOURCE_DATE_EPOCH={raw!r} is negative")
    return value


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH``, else 0: outputs never depend on now."""
    value = declared_epoch()
    return 0 if value is None else value
