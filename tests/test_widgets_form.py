"""The profile form of notebook 00-board, with real ipywidgets (no browser needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_fixtures import BOARDS

from waltport.profile.load import load_profile
from waltport.widgets import ProfileForm
from waltport.widgets.core import evaluate, values_from_profile, values_to_yaml


@pytest.mark.parametrize("board", ["qemu-arm64", "qemu-arm", "qemu-x86-64", "rpi", "nanopi-r5c",
                                   "coral-dev-board"])
def test_form_values_round_trip_every_builtin_profile(board: str) -> None:
    prof = load_profile(BOARDS / f"{board}.yaml")
    ev = evaluate(values_from_profile(prof))
    assert ev.problems == () and ev.profile == prof
    assert all(r["ok"] for r in ev.detect_rows)
    assert ev.preview   # the first stage the board would run


def test_live_validation_detect_table_and_preview() -> None:
    form = ProfileForm.from_file(BOARDS / "rpi.yaml")
    assert "valid profile" in form.status.value
    assert form.detect_table.value.count("✔") == len(form.evaluation.detect_rows) > 1
    assert "walt.node." in form.preview.value
    form.fields["dhcp_identifier"].value = "uci"
    assert "dhcp_identifier" in form.status.value and form.save_button.disabled
    form.fields["dhcp_identifier"].value = "vci"
    form.fields["detect"].value = "method: [uboot"
    assert "detection rules: not YAML (line 1" in form.status.value
    assert "no preview" in form.preview.value


def test_vci_to_uci_on_a_pc_profile_changes_the_preview() -> None:
    form = ProfileForm.from_file(BOARDS / "qemu-x86-64.yaml")
    assert "user-class" in form.preview.value
    form.fields["models"].value = "pc-x86-64, pc-x86-32, pc-x86-16"
    assert "valid profile" in form.status.value   # extra model allowed, rules unchanged
    form.fields["samples"].value = "64bit: pc-x86-16"
    assert "✘" in form.detect_table.value


def test_save_writes_a_loadable_profile_and_refuses_invalid(tmp_path: Path) -> None:
    form = ProfileForm.from_file(BOARDS / "qemu-arm64.yaml")
    form.save_path.value = str(tmp_path / "new.yaml")
    form.fields["name"].value = "my-board"
    form.fields["models"].value = "my-board"
    assert form.save() == tmp_path / "new.yaml"
    saved = load_profile(tmp_path / "new.yaml")
    assert saved.model == "my-board" and saved.uboot is not None
    form.fields["name"].value = "My Board"
    assert form.save() is None and "not saved" in form.save_status.value
    assert load_profile(tmp_path / "new.yaml").name == "my-board"


def test_models_text_becomes_model_or_models() -> None:
    v = values_from_profile(load_profile(BOARDS / "qemu-arm64.yaml"))
    assert "model: qemu-arm64" in values_to_yaml(v)
    assert "models:\n- a\n- b" in values_to_yaml(v.with_(models="a, b"))
