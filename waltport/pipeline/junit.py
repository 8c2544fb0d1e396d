"""junit.xml: one testsuite per board, one testcase per check (CI dashboards read it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from waltport.evidence.results import Check
from waltport.pipeline.summary import stage_entries
from waltport.util.atomic import write_bytes


def junit_xml(summaries: Sequence[Mapping[str, Any]]) -> bytes:
    """Pure: summaries -> junit XML bytes.

    A failed check is a ``failure``, an errored one an ``error``, a skipped
    one ``skipped``; a stage with no checks (it errored before checking
    anything) still yields one testcase so it cannot vanish from CI.
    """
    root = ET.Element("testsuites", name="waltport")
    for s in summaries:
        board = s.get("board", {}).get("name", "unknown")
        suite = ET.SubElement(root, "testsuite", name=f"waltport.{board}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        total_time = 0.0
        for st in stage_entries(s):
            checks = st.checks or (Check(st.name, st.status, st.mandatory, st.message),)
            t = float(st.timings.get("total", 0.0))
            total_time += t
            for i, c in enumerate(checks):
                case = ET.SubElement(suite, "testcase", classname=f"{board}.{st.name}",
                                     name=c.name, time=f"{t if i == 0 else 0.0:.3f}")
                counts["tests"] += 1
                status = c.status
                text = c.evidence or st.message
                if status == "fail":
                    tag = "failure" if c.mandatory else "skipped"
                    ET.SubElement(case, tag, message=text[:500]).text = text
                    counts["failures" if tag == "failure" else "skipped"] += 1
                elif status == "error":
                    ET.SubElement(case, "error", message=text[:500]).text = text
                    counts["errors"] += 1
                elif status == "skip":
                    ET.SubElement(case, "skipped", message=text[:500])
                    counts["skipped"] += 1
                elif text:
                    ET.SubElement(case, "system-out").text = text
        for k, v in counts.items():
            suite.set(k, str(v))
        suite.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: str | Path, summaries: Sequence[Mapping[str, Any]]) -> Path:
    p = Path(path)
    write_bytes(p, junit_xml(summaries))
    return p
