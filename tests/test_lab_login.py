"""The lab's SSH key pair: in waltport's state for one boot session, never in a run dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from waltport.lab.login import login_key

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="openssh-client")


def test_key_lives_in_the_state_dir_and_goes_away(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALTPORT_STATE", str(tmp_path / "state"))
    with login_key() as key:
        assert key.private.is_file() and key.private.is_relative_to(tmp_path / "state")
        assert (key.lab_dir / "authorized_keys").read_text().startswith("ssh-ed25519 ")
        assert (key.private.parent.parent.stat().st_mode & 0o077) == 0
        where = key.private.parent
    assert not where.exists()
