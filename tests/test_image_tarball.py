"""Extraction of an image root never writes outside its directory (issue 14, item 1)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from waltport.image.tarball import export_rootfs
from waltport.image.view import ImageSourceError
from waltport.util.safetree import SafeTree, UnsafeMember, member_parts


def _hostile_tar(path: Path, outside: Path) -> Path:
    """A rootfs tarball whose members try every way out of the extraction directory."""
    with tarfile.open(path, "w") as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, link: str = "",
                data: bytes = b"x") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
        add("./etc", tarfile.DIRTYPE)
        add("./etc/hostname", data=b"node\n")
        info = tarfile.TarInfo("./suid")
        info.mode, info.size = 0o4755, 1
        tar.addfile(info, io.BytesIO(b"x"))
        # A link to the host, then a member under it: a naive extractor writes outside/file.
        add("./escape", tarfile.SYMTYPE, str(outside))
        add("./escape/file", data=b"pwned")
        add("./rel", tarfile.SYMTYPE, "../../../../" + str(outside).lstrip("/"))
        add("./rel/file2", data=b"pwned")
        add(str(outside / "absolute"), data=b"pwned")
        add("../dotdot", data=b"pwned")
        add("./a/../../dotdot2", data=b"pwned")
        add("./hard", tarfile.LNKTYPE, str(outside / "victim"))
        add("./hard2", tarfile.LNKTYPE, "../victim")
        add("./hard3", tarfile.LNKTYPE, "./escape")    # a link, not a file of the tree
        add("./good-hard", tarfile.LNKTYPE, "./etc/hostname")
        add("./dev/console", tarfile.CHRTYPE)
    return path


def test_extraction_never_follows_a_link_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")
    tar = _hostile_tar(tmp_path / "hostile.tar", outside)
    out = export_rootfs(tar, tmp_path / "rootfs")
    assert sorted(os.listdir(outside)) == ["victim"]
    assert (outside / "victim").read_text() == "keep"
    assert not (tmp_path / "dotdot").exists() and not (tmp_path / "dotdot2").exists()
    root = out.root
    assert (root / "etc/hostname").read_bytes() == b"node\n"
    assert os.path.samefile(root / "good-hard", root / "etc/hostname")
    assert (root / "suid").stat().st_mode & 0o7777 == 0o755
    assert os.readlink(root / "escape") == str(outside)      # kept as a link, never followed
    for name in ("escape/file", "rel/file2", "hard", "hard2", "hard3", "dev/console"):
        assert not os.path.lexists(root / name), name
    text = "\n".join(out.findings)
    for needle in ("/escape/file: escape is a link", "/rel/file2: rel is a link",
                   "/absolute': absolute name", "'../dotdot': '..' in the name",
                   "dotdot2': '..' in the name", "hard link to", "/hard3: hard link to escape",
                   "/dev/console: device node"):
        assert needle in text, (needle, out.findings)
    assert len(out.findings) == 9


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "", ".", "a/./.."])
def test_member_names_that_would_be_renamed_are_refused(name: str) -> None:
    with pytest.raises(UnsafeMember):
        member_parts(name)


def test_safe_tree_refuses_to_overwrite_or_cross_a_link(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    with SafeTree(tmp_path / "root") as tree:
        tree.write_file("a/b", [b"1", b"2"], 0o600)
        tree.symlink("link", str(tmp_path / "elsewhere"))
        with pytest.raises(UnsafeMember, match="already exists"):
            tree.write_file("a/b", [b"3"])
        with pytest.raises(UnsafeMember, match="not followed"):
            tree.mkdir("link/sub")
        with pytest.raises(UnsafeMember, match="not followed"):
            tree.write_file("a/b/c", [b""])
    assert (tmp_path / "root/a/b").read_bytes() == b"12"
    assert oct((tmp_path / "root/a/b").stat().st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path / "elsewhere") == []


def _owned_tar(path: Path) -> Path:
    """A Debian-like root: a service user's state dir and a setuid program."""
    with tarfile.open(path, "w") as tar:
        for name, kind, mode, uid, gid in (("./var/lib/chrony", tarfile.DIRTYPE, 0o750, 100, 101),
                                           ("./usr/bin/su", tarfile.REGTYPE, 0o4755, 0, 0),
                                           ("./etc/shadow", tarfile.REGTYPE, 0o640, 0, 42)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = kind, mode, uid, gid
            if kind == tarfile.REGTYPE:
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
            else:
                tar.addfile(info)
        link = tarfile.TarInfo("./usr/bin/link")
        link.type, link.linkname, link.uid = tarfile.SYMTYPE, "su", 7
        tar.addfile(link)
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owners_kept_only_when_asked_and_only_in_a_private_place(tmp_path: Path) -> None:
    tar = _owned_tar(tmp_path / "owned.tar")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    kept = export_rootfs(tar, private / "root", owners=True).root
    chrony = (kept / "var/lib/chrony").stat()
    assert (chrony.st_uid, chrony.st_gid, chrony.st_mode & 0o7777) == (100, 101, 0o750)
    assert (kept / "usr/bin/su").stat().st_mode & 0o7777 == 0o4755
    assert (kept / "etc/shadow").stat().st_gid == 42
    assert (kept / "usr/bin/link").lstat().st_uid == 7
    plain = export_rootfs(tar, private / "plain").root
    assert (plain / "var/lib/chrony").stat().st_uid == 0
    assert (plain / "usr/bin/su").stat().st_mode & 0o7777 == 0o755
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(ImageSourceError, match="only root can enter"):
        export_rootfs(tar, shared / "root", owners=True)
    assert list(shared.iterdir()) == []
