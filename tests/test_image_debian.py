"""The Debian base: mmdebstrap command line, cache key, WalT layer (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.image.debian import (
    BASE_PACKAGES,
    DebianError,
    all_packages,
    cache_key,
    check_inputs,
    debian_arch,
    mmdebstrap_argv,
    parse_release_date,
    suites_of,
    walt_layer_files,
)

INRELEASE = """\
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Suite: oldstable
Codename: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
"""


def test_arch_names() -> None:
    assert [debian_arch(a) for a in ("arm64", "arm", "x86_64", "x86")] == [
        "arm64", "armhf", "amd64", "i386"]
    with pytest.raises(DebianError, match="'mips'"):
        debian_arch("mips")


def test_packages_and_names_are_checked() -> None:
    pkgs = all_packages(("htop", "python3"))
    assert pkgs == tuple(sorted(set(pkgs))) and "htop" in pkgs
    assert {"systemd-sysv", "openssh-server", "busybox-static", "lldpd", "chrony",
            "avahi-daemon", "nbd-client"} <= set(BASE_PACKAGES)
    check_inputs("bookworm", pkgs)
    with pytest.raises(DebianError, match=r"image\.suite"):
        check_inputs("bookworm; rm -rf /", pkgs)
    with pytest.raises(DebianError, match=r"image\.packages"):
        check_inputs("bookworm", ("--option=x",))
    with pytest.raises(DebianError, match=r"image\.suite"):
        check_inputs("bookworm\n", pkgs)


def test_mmdebstrap_argv_removes_keys_and_names_the_suites() -> None:
    argv = mmdebstrap_argv("bookworm", "arm64", ("a", "b"), Path("/o.tar"))
    assert argv[:5] == ["mmdebstrap", "--variant=apt", "--format=tar", "--architectures=arm64",
                        "--include=a,b"]
    assert any("ssh_host_" in a and a.startswith("--customize-hook=rm") for a in argv)
    assert argv[-4:] == ["/o.tar", "deb http://deb.debian.org/debian bookworm main",
                         "deb http://deb.debian.org/debian bookworm-updates main",
                         "deb http://deb.debian.org/debian-security bookworm-security main"]
    assert suites_of("sid") == (("http://deb.debian.org/debian", "sid"),)


def test_cache_key_follows_every_input() -> None:
    base = ("bookworm", "arm64", ("a",), 1, ("bookworm: d1",))
    key = cache_key(*base)
    assert key.startswith("bookworm-arm64-") and key == cache_key(*base)
    for i, other in enumerate(("trixie", "amd64", ("a", "b"), 2, ("bookworm: d2",))):
        changed = list(base)
        changed[i] = other
        assert cache_key(*changed) != key  # type: ignore[arg-type]


def test_release_date() -> None:
    assert parse_release_date(INRELEASE) == "Sat, 11 Jul 2026 10:16:37 UTC"
    with pytest.raises(DebianError, match="Date"):
        parse_release_date("Suite: x\n")


def test_walt_layer_enables_its_units_without_running_anything() -> None:
    files = {f.path: f for f in walt_layer_files()}
    units = "etc/systemd/system"
    assert files[f"{units}/ssh.service.requires/waltport-ssh-hostkeys.service"].link == \
        "../waltport-ssh-hostkeys.service"
    assert files[f"{units}/multi-user.target.wants/waltport-image-init.service"].link == \
        "../waltport-image-init.service"
    hostkeys = files[f"{units}/waltport-ssh-hostkeys.service"].data or b""
    assert b"ssh-keygen -A" in hostkeys and b"Before=ssh.service" in hostkeys
    unit = files[f"{units}/waltport-image-init.service"].data or b""
    assert b"ExecStart=/usr/local/sbin/waltport-image-init" in unit
    script = files["usr/local/sbin/waltport-image-init"]
    # The shell joins the two halves; no file holds the marker a console line is read for.
    assert b'"WALTPORT-IMAGE-""INIT model=$model' in (script.data or b"")
    assert b"WALTPORT-IMAGE-INIT" not in (script.data or b"") + unit
    assert script.mode == 0o755
    assert files["dev"].data is None and files["dev"].mode == 0o755
    assert b"PermitRootLogin prohibit-password" in (files["etc/ssh/sshd_config.d/walt.conf"].data
                                                    or b"")
    assert files["root/.ssh"].mode == 0o700
