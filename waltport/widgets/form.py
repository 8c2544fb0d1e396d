"""ProfileForm: ipywidgets over :mod:`waltport.widgets.core` (the edge: widgets and Save)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from waltport.profile.load import load_profile
from waltport.profile.model import Arch, Bootloader, DhcpIdentifier
from waltport.util.atomic import write_text
from waltport.widgets.core import Evaluation, FormValues, evaluate, saved_text, values_from_profile

_CHOICES = {"arch": [a.value for a in Arch], "bootloader": [b.value for b in Bootloader],
            "dhcp_identifier": [d.value for d in DhcpIdentifier]}


def _rows_html(ev: Evaluation) -> str:
    if not ev.detect_rows:
        return "<i>no detection table (profile invalid)</i>"
    head = "<tr><th>sample</th><th>expected</th><th>detected</th><th>identifier</th><th></th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(str(r['value']))}</td><td>{html.escape(str(r['expected']))}</td>"
        f"<td>{html.escape(str(r['detected']))}</td><td><code>"
        f"{html.escape(str(r['identifier']))}</code></td><td>{'✔' if r['ok'] else '✘'}</td></tr>"
        for r in ev.detect_rows)
    return f"<table>{head}{body}</table>"


class ProfileForm:
    """Edit a profile: live validation, live detect table, live first-stage preview, Save."""

    def __init__(self, values: FormValues, save_path: str | Path) -> None:
        self.fields: dict[str, w.Widget] = {
            "name": w.Text(description="name"),
            "description": w.Text(description="description",
                                  layout=w.Layout(width="95%")),
            "arch": w.Dropdown(options=_CHOICES["arch"], description="arch"),
            "bootloader": w.ToggleButtons(options=_CHOICES["bootloader"],
                                          description="bootloader"),
            "dhcp_identifier": w.ToggleButtons(
                options=[("VCI (option 60)", "vci"), ("UCI (option 77)", "uci")],
                description="identifier"),
            "models": w.Text(description="model(s)", placeholder="m1 or m1, m2"),
            "detect": w.Textarea(description="detect", placeholder="YAML detection rules",
                                 layout=w.Layout(width="95%", height="140px")),
            "samples": w.Textarea(description="samples", placeholder="value: model",
                                  layout=w.Layout(width="95%", height="90px")),
        }
        self._kept = dict(values.kept)
        for key, widget in self.fields.items():
            widget.value = getattr(values, key)
            widget.observe(self._on_change, names="value")
        self.status = w.HTML()
        self.detect_table = w.HTML()
        self.preview = w.HTML()
        self.save_path = w.Text(value=str(save_path), description="save to",
                                layout=w.Layout(width="70%"))
        self.save_button = w.Button(description="Save", button_style="primary")
        self.save_status = w.HTML()
        self.save_button.on_click(lambda _b: self.save())
        self.evaluation = evaluate(self.values)
        self.widget = w.VBox([
            *self.fields.values(), self.status,
            w.HTML("<b>Detection over the samples</b>"), self.detect_table,
            w.HTML("<b>Generated first stage</b>"), self.preview,
            w.HBox([self.save_path, self.save_button]), self.save_status])
        self._refresh()

    @classmethod
    def from_file(cls, path: str | Path) -> ProfileForm:
        return cls(values_from_profile(load_profile(path)), path)

    @property
    def values(self) -> FormValues:
        return FormValues(**{k: self.fields[k].value for k in self.fields}, kept=self._kept)

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.evaluation = evaluate(self.values)
        self._refresh()

    def _refresh(self) -> None:
        ev = self.evaluation
        if ev.problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in ev.problems)
            self.status.value = f"<div style='color:#cf222e'>✘ invalid:<ul>{items}</ul></div>"
        else:
            self.status.value = "<div style='color:#1a7f37'>✔ valid profile</div>"
        self.detect_table.value = _rows_html(ev)
        self.preview.value = "".join(
            f"<p><code>{html.escape(n)}</code></p><pre>{html.escape(t)}</pre>"
            for n, t in ev.preview.items()) or "<i>no preview (profile invalid)</i>"
        self.save_button.disabled = ev.profile is None

    def save(self) -> Path | None:
        """Write the profile YAML (only a valid profile is ever written)."""
        ev = self.evaluation
        if ev.profile is None:
            self.save_status.value = "<span style='color:#cf222e'>not saved: invalid</span>"
            return None
        path = Path(self.save_path.value)
        write_text(path, saved_text(ev.profile))
        self.save_status.value = f"saved {html.escape(str(path))}"
        return path

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
