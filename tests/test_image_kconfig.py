"""Kernel configuration verdicts and the initrd reader."""

from __future__ import annotations

import gzip
import lzma

import image_fixtures as fx

from waltport.image.initrd import initrd_paths, module_names
from waltport.image.kconfig import embedded_config, judge, parse_config


def _verdicts(text: str, modules: frozenset[str] | None) -> dict[str, bool]:
    return {v.option: v.ok for v in judge(parse_config(text), initrd_modules=modules)}


def test_all_builtin_passes_without_initrd() -> None:
    assert all(_verdicts(fx.CONFIG_Y, None).values())


def test_modules_accepted_only_when_the_initrd_carries_them() -> None:
    mods = frozenset({"overlay.ko", "nfs.ko", "nfsv3.ko"})
    assert all(_verdicts(fx.CONFIG_M, mods).values())
    partial = _verdicts(fx.CONFIG_M, frozenset({"nfs.ko", "nfsv3.ko"}))
    assert partial["OVERLAY_FS"] is False and partial["NFS_FS"] is True
    no_initrd = _verdicts(fx.CONFIG_M, None)
    assert not any(no_initrd.values())


def test_parse_config_unset_lines() -> None:
    cfg = parse_config(fx.CONFIG_M + 'CONFIG_LOCALVERSION="-x"\n')
    assert cfg["ROOT_NFS"] == "n" and cfg["LOCALVERSION"] == "-x" and "IP_PNP" not in cfg


def test_embedded_ikconfig() -> None:
    blob = b"\0" * 100 + b"IKCFG_ST" + gzip.compress(fx.CONFIG_Y.encode(), mtime=0) + b"IKCFG_ED"
    text = embedded_config(blob)
    assert text is not None and "CONFIG_ROOT_NFS=y" in text
    assert embedded_config(b"\0" * 100) is None


def test_initrd_formats() -> None:
    raw = fx.initrd()
    for data in (raw, gzip.compress(raw, mtime=0), lzma.compress(raw)):
        paths = initrd_paths(data)
        assert paths is not None and "lib/modules/overlay.ko" in paths
        assert module_names(paths) == {"overlay.ko", "nfs.ko", "nfsv3.ko"}
    # early-microcode style: an uncompressed archive followed by a compressed one
    both = initrd_paths(fx.initrd(("a",)) + gzip.compress(fx.initrd(("b",)), mtime=0))
    assert both is not None and module_names(both) == {"a.ko", "b.ko"}
    assert initrd_paths(b"not an archive") is None
