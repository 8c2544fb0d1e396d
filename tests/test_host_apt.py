"""Kernel fetch: the private apt state never names the host's dpkg/apt state."""

from __future__ import annotations

from pathlib import Path

import pytest

from waltport.host.apt import KERNEL_FLAVOUR, AptFailed, FetchError, _run, apt_options, debian_arch


def test_debian_arch() -> None:
    assert debian_arch("arm64") == "arm64"
    assert debian_arch("x86_64") == "amd64"
    assert debian_arch("x86") == "i386"             # pc-x86-32: Debian's 686 flavour
    assert KERNEL_FLAVOUR[debian_arch("x86")] == "686"
    with pytest.raises(FetchError, match="no Debian kernel for arch 'mips'"):
        debian_arch("mips")


def test_apt_options_stay_private(tmp_path: Path) -> None:
    opts = apt_options(tmp_path)
    pairs = dict(o.split("=", 1) for o in opts[1::2] if not o.startswith("APT::Architectures"))
    for key in ("Dir::State::Lists", "Dir::Cache", "Dir::State::status", "Dir::Etc",
                "Dir::Etc::sourceparts"):
        assert pairs[key].startswith(str(tmp_path)), key
    assert pairs["Dir::Etc::sourcelist"] == "/dev/null"
    arches = [o.split("=", 1)[1] for o in opts[1::2] if o.startswith("APT::Architectures")]
    assert arches == ["amd64", "arm64", "i386", "armhf", "armel"]
    assert all(flag == "-o" for flag in opts[::2])


def test_a_failed_command_says_whether_apt_skipped_indexes() -> None:
    """The outcome is a field read from apt's output, never from the error's message."""
    skipped = "echo 'E: Some index files failed to download. They have been ignored' >&2; exit 100"
    with pytest.raises(AptFailed) as err:
        _run(["sh", "-c", skipped])
    assert err.value.indexes_skipped and "sh -c failed" in str(err.value)
    with pytest.raises(AptFailed) as err:
        _run(["sh", "-c", "echo 'E: Unable to locate package x' >&2; exit 100"])
    assert not err.value.indexes_skipped
