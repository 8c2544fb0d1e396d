"""WalT's identifier prefix and the lab's boot-notification strings are defined once."""

from __future__ import annotations

import ast
from pathlib import Path

import waltport
from waltport import walt
from waltport.image.initramfs import init_script
from waltport.net.notify import parse_notification

PACKAGE = Path(waltport.__file__).resolve().parent


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) \
                and node.body and isinstance(node.body[0], ast.Expr):
            out.add(id(node.body[0].value))
    return out


def respelled(path: Path, root: Path = PACKAGE) -> list[str]:
    """Literals in ``path``'s code (docstrings aside) that spell a constant of waltport.walt."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docs:
            continue
        v = node.value
        if (isinstance(v, str) and (v == walt.WALT_PREFIX or walt.NOTIFY_PREFIX in v
                                    or walt.USERSPACE_MARKER in v)) or \
                (type(v) is int and v == walt.NOTIFY_PORT):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {v!r:.60}")
    return found


def test_no_module_spells_the_walt_constants_again() -> None:
    hits = [h for p in sorted(PACKAGE.rglob("*.py")) if p != PACKAGE / "walt.py"
            for h in respelled(p)]
    assert hits == []


def test_the_check_finds_a_respelling(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text('"""WALTPORT-BOOTED in a docstring is prose."""\n'
                                   'PORT = 7557\nP = "walt.node."\n')
    assert [h.split(":")[1] for h in respelled(tmp_path / "m.py", tmp_path)] == ["2", "3"]


def test_the_initramfs_speaks_what_the_listener_parses() -> None:
    text = init_script()
    assert f'echo "{walt.USERSPACE_MARKER} model=$model' in text
    assert f"echo {walt.NOTIFY_PORT} >" in text
    line = f"{walt.NOTIFY_PREFIX} model=qemu-arm64 mac=52:54:00:12:34:56 ip=10.0.0.7\n"
    assert f'echo "<1>{walt.NOTIFY_PREFIX} model=$model mac=$mac ip=$addr"' in text
    assert parse_notification(line.encode()).ip == "10.0.0.7"
