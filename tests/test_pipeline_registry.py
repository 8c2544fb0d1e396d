"""The stage registry and `-p key=value` parameters."""

from __future__ import annotations

import pytest

from waltport.errors import UsageError
from waltport.pipeline.registry import PIPELINE_STAGES, by_name, parse_params, select


def test_dependencies_point_backwards() -> None:
    order = [s.name for s in PIPELINE_STAGES]
    for s in PIPELINE_STAGES:
        for dep in s.depends_on:
            assert order.index(dep) < order.index(s.name)
    assert by_name()["report"].depends_on == ()


def test_select_keeps_registry_order_and_refuses_unknown() -> None:
    assert [s.name for s in select(["report", "first-boot", "board"])] == \
        ["board", "first_boot", "report"]
    with pytest.raises(UsageError, match=r"unknown stage.*netwrk"):
        select(["netwrk"])


def test_params_are_typed_and_checked() -> None:
    assert parse_params(["boots=3", "mode=pcap", "pcap=/tmp/a b.pcap", "lab_name=007"]) == \
        {"boots": 3, "mode": "pcap", "pcap": "/tmp/a b.pcap", "lab_name": "007"}
    with pytest.raises(UsageError, match="unknown parameter"):
        parse_params(["bots=3"])
    with pytest.raises(UsageError, match="integer"):
        parse_params(["boots=many"])
    with pytest.raises(UsageError, match="mode=wifi"):
        parse_params(["mode=wifi"])
    with pytest.raises(UsageError, match="key=value"):
        parse_params(["boots"])
