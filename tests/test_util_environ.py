"""Environment variables set for a block are restored after it, even on an error."""

from __future__ import annotations

import os

import pytest

from waltport.util.environ import scoped_environ


def test_set_then_restored_or_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WP_ENV_KEPT", "before")
    monkeypatch.delenv("WP_ENV_NEW", raising=False)
    with pytest.raises(RuntimeError), scoped_environ({"WP_ENV_KEPT": "in", "WP_ENV_NEW": "x"}):
        assert (os.environ["WP_ENV_KEPT"], os.environ["WP_ENV_NEW"]) == ("in", "x")
        raise RuntimeError("the block fails")
    assert os.environ["WP_ENV_KEPT"] == "before"
    assert "WP_ENV_NEW" not in os.environ
