"""The lab's SSH key pair: in waltport's state for one boot session, never in a run dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from waltport.lab.login import NODE_FACTS_COMMAND, NodeFacts, login_key, parse_node_facts

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


def test_node_facts_parse_what_the_node_printed() -> None:
    out = ("apt=apt 2.6.2 (amd64)\nsystemd=degraded\nfailed=chrony.service\n"
           "failed=lldpd.service\n")
    facts = parse_node_facts(out)
    assert facts == NodeFacts("apt 2.6.2 (amd64)", "degraded", ("chrony.service", "lldpd.service"))
    # The minimal image: busybox has neither apt nor systemd.
    assert parse_node_facts("apt=\n").to_json() == {"apt": "absent", "systemd": "absent",
                                                     "failed_units": []}
    assert "systemctl is-system-running --wait" in NODE_FACTS_COMMAND
    assert "saveenv" not in NODE_FACTS_COMMAND
