"""The porting checklist of one or several runs, with what is identical said once.

A family run checks its image once per model (``[rpi-3-b] kernel ...``) and a
batch runs one profile per sub-model: the same check then appears for every
*subject* (a model, or a board of a batch), usually with the same verdict and
evidence that differs only by the model's name.  :func:`checklist` groups the
checks by stage and name, compares the evidence with the subject's own name
replaced by ``<model>``, and keeps a per-subject list only where something
differs.  Pure: summaries in, rows out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from waltport.pipeline.summary import stage_entries

SUBJECT_RE = re.compile(r"^\[([a-z0-9][a-z0-9-]*)\] (.*)$", re.S)
PLACEHOLDER = "<model>"
# Worst first: the status a group shows when its subjects disagree.
SEVERITY = ("error", "fail", "skip", "pass")


@dataclass(frozen=True)
class Verdict:
    """Some subjects that share a status and (normalised) evidence."""

    subjects: tuple[str, ...]
    status: str
    evidence: str


@dataclass(frozen=True)
class CheckRow:
    """One requirement across every subject that has it."""

    name: str
    mandatory: bool
    status: str                      # the worst over the subjects
    verdicts: tuple[Verdict, ...]    # one when every subject agrees

    @property
    def uniform(self) -> bool:
        return len(self.verdicts) == 1

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(s for v in self.verdicts for s in v.subjects)


@dataclass(frozen=True)
class StageRow:
    """One stage: its status per subject group, then its checks."""

    name: str
    title: str
    status: str
    verdicts: tuple[Verdict, ...]    # status + message per run group
    checks: tuple[CheckRow, ...]


def worst(statuses: Sequence[str]) -> str:
    return min(statuses, key=lambda s: SEVERITY.index(s) if s in SEVERITY else 0,
               default="pass")


def normalise(evidence: str, subject: str) -> str:
    """Evidence with the subject's model name replaced by ``<model>`` (pure).

    ``rpi-3-b`` must not match inside ``rpi-3-b-plus``, but does inside the
    image name ``rpi-3-b-default``.
    """
    if not subject:
        return evidence
    pattern = re.escape(subject) + r"(?![a-z0-9]|-(?!default)[a-z0-9])"
    return re.sub(r"(?<![a-z0-9-])" + pattern, PLACEHOLDER, evidence)


def run_label(summary: Mapping[str, Any], several_boards: bool) -> str:
    """How a run is named among others: its model, or its board (and model)."""
    b = summary.get("board") or {}
    name, model = str(b.get("name") or "?"), b.get("model")
    if model:
        return f"{name}/{model}" if several_boards else str(model)
    return name


def _subject_model(label: str) -> str:
    return label.rsplit("/", 1)[-1]


def checked_models(summary: Mapping[str, Any]) -> list[str]:
    """The models a run checked one by one (``[model] check`` names), if several."""
    models = list(dict.fromkeys(m.group(1) for st in stage_entries(summary)
                                for c in st.checks if (m := SUBJECT_RE.match(c.name))))
    return models if len(models) > 1 else []


def per_model(summary: Mapping[str, Any]) -> bool:
    """Whether a run checked several models one by one."""
    return bool(checked_models(summary))


def _named_model(name: str, models: Sequence[str]) -> str | None:
    # "imported as docker.io/waltplatform/rpi-4-b-default:latest": rpi-4-b's check.
    found = [m for m in models if normalise(name, m) != name]
    return found[0] if len(found) == 1 else None


def _group(items: Sequence[tuple[str, str, str]]) -> tuple[Verdict, ...]:
    """(subject, status, evidence) -> verdicts of subjects agreeing on status and evidence.

    Identical text first (a list naming every model is the same for all of
    them); then subjects left alone whose text differs only by their own name
    share the text with ``<model>`` in it.
    """
    same: dict[tuple[str, str], list[str]] = {}
    for subject, status, evidence in items:
        same.setdefault((status, evidence), []).append(subject)
    groups: dict[tuple[str, str], list[str]] = {}
    for (status, evidence), subjects in same.items():
        key = (status, evidence) if len(subjects) > 1 else \
            (status, normalise(evidence, _subject_model(subjects[0])))
        groups.setdefault(key, []).extend(subjects)
    originals = {s: ev for s, _, ev in items}
    ordered = sorted(groups.items(), key=lambda kv: SEVERITY.index(kv[0][0])
                     if kv[0][0] in SEVERITY else 0)
    # One subject: its own words; several: the shared text (with <model> in it if need be).
    return tuple(Verdict(tuple(subjects), status,
                         ev if len(subjects) > 1 else originals[subjects[0]])
                 for (status, ev), subjects in ordered)


def checklist(summaries: Sequence[Mapping[str, Any]]) -> tuple[StageRow, ...]:
    """The stages and checks of ``summaries``, identical verdicts merged (pure)."""
    boards = {str((s.get("board") or {}).get("name")) for s in summaries}
    several = len(boards) > 1
    order: list[str] = []
    titles: dict[str, str] = {}
    stage_items: dict[str, list[tuple[str, str, str]]] = {}
    check_items: dict[str, dict[tuple[str, bool], list[tuple[str, str, str]]]] = {}
    names: dict[tuple[str, tuple[str, bool]], dict[str, None]] = {}
    for summary in summaries:
        label = run_label(summary, several)
        models = checked_models(summary)
        for st in stage_entries(summary):
            name = st.name
            if name not in titles:
                order.append(name)
                titles[name] = st.title or name
            stage_items.setdefault(name, []).append((label, st.status, st.message))
            for c in st.checks:
                m = SUBJECT_RE.match(c.name) if models else None
                subject, base = (m.group(1), m.group(2)) if m else (label, c.name)
                if not m and models:
                    subject = _named_model(base, models) or label
                if subject != label and several:
                    subject = f"{label.split('/')[0]}/{subject}"
                # "sub-model rpi-3-b is ..." and "sub-model rpi-4-b is ..." are one check.
                key = (normalise(base, _subject_model(subject)), c.mandatory)
                names.setdefault((name, key), {})[base] = None
                check_items.setdefault(name, {}).setdefault(key, []).append(
                    (subject, c.status, c.evidence))
    rows = []
    for name in order:
        # The check's own name when all subjects used one, else the shared form.
        checks = tuple(
            CheckRow(next(iter(names[(name, key)])) if len(names[(name, key)]) == 1 else key[0],
                     key[1], worst([i[1] for i in items]), _group(items))
            for key, items in check_items.get(name, {}).items())
        # A stage's message that one of its checks already gives as evidence is not
        # said twice ("network ran: <why>" and the stage's "error: <why>").
        said = {v.evidence for c in checks for v in c.verdicts}
        verdicts = _group([(subj, status, "" if msg in said else msg)
                           for subj, status, msg in stage_items[name]])
        rows.append(StageRow(name, titles[name], worst([v.status for v in verdicts]),
                             verdicts, checks))
    return tuple(rows)


def subjects(summaries: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """What the checklist speaks of: the models a family run checked one by one, else
    the runs themselves (pure)."""
    several = len({str((s.get("board") or {}).get("name")) for s in summaries}) > 1
    out: dict[str, None] = {}
    for summary in summaries:
        label = run_label(summary, several)
        models = [m.group(1) for st in stage_entries(summary) for c in st.checks
                  if (m := SUBJECT_RE.match(c.name))] if per_model(summary) else []
        names = [f"{label.split('/')[0]}/{m}" if several else m for m in models] or [label]
        out.update(dict.fromkeys(names))
    return tuple(out)
