"""The first-boot timeline plot: a PNG, the same bytes for the same boots."""

from __future__ import annotations

import io

import matplotlib.image as mpimg

from waltport.lab.plots import timeline_png

STAGES = ("power_on", "first_dhcp", "walt_dhcp", "userspace")
BOOTS = [{"index": 0, "ok": True, "stages": [{"name": "power_on", "time": 0.0},
                                             {"name": "first_dhcp", "time": 2.2},
                                             {"name": "walt_dhcp", "time": 2.3},
                                             {"name": "userspace", "time": 5.1}]},
         {"index": 1, "ok": False, "failed_stage": "userspace",
          "stages": [{"name": "power_on", "time": 0.0}, {"name": "first_dhcp", "time": 2.4},
                     {"name": "walt_dhcp", "time": None}, {"name": "userspace", "time": None}]}]


def test_timeline_is_a_reproducible_png() -> None:
    png = timeline_png(BOOTS, STAGES)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert timeline_png(BOOTS, STAGES) == png
    img = mpimg.imread(io.BytesIO(png))
    red = (img[:, :, 0] > 0.7) & (img[:, :, 1] < 0.3) & (img[:, :, 2] < 0.3)
    assert red.sum() > 20    # the failed boot is drawn in red


def test_timeline_without_boots() -> None:
    assert timeline_png([], STAGES).startswith(b"\x89PNG")
