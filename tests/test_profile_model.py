"""Board profiles: every built-in one loads; bad ones list every problem with its path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from waltport.cli import main
from waltport.errors import ProfileError
from waltport.profile.load import dump_profile, load_profile, parse_profile, profile_digest
from waltport.profile.regex import subset_problems

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
BOARDS = sorted(BOARDS_DIR.glob("*.yaml"))

MINIMAL = """
name: myboard
arch: arm64
bootloader: uboot
dhcp_identifier: vci
model: myboard
uboot: {boot_command: booti}
"""


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_builtin_profiles_load(path: Path) -> None:
    profile = load_profile(path)
    assert profile.name == path.stem.replace("qemu-x86-64", "qemu-x86-64")
    assert profile.all_models


def test_required_builtin_boards_exist() -> None:
    names = {p.stem for p in BOARDS}
    assert {"qemu-arm64", "qemu-x86-64", "rpi", "nanopi-r5c", "coral-dev-board"} <= names


def test_minimal_profile_and_defaults() -> None:
    p = parse_profile(MINIMAL)
    assert p.second_stage.kernel == "kernel"
    assert p.kernel.nfs_version == 3
    assert p.identifier("myboard") == "walt.node.myboard"


def test_every_problem_is_listed_at_once() -> None:
    text = """
name: Bad_Name
arch: mips
bootloader: uboot
dhcp_identifier: vci
models: [ok-model, 9bad]
colour: blue
uboot: {boot_command: bootx}
"""
    with pytest.raises(ProfileError) as exc:
        parse_profile(text, "bad.yaml")
    paths = {p.path for p in exc.value.problems}
    assert {"name", "arch", "models[1]", "colour", "uboot.boot_command"} <= paths
    assert exc.value.exit_code == 2
    assert "bad.yaml" in str(exc.value)
    assert "unknown key" in str(exc.value)


def test_cross_field_problems_have_paths() -> None:
    text = MINIMAL.replace("dhcp_identifier: vci", "dhcp_identifier: uci") + "models: [a, b]\n"
    with pytest.raises(ProfileError) as exc:
        parse_profile(text)
    by_path = {p.path: p.reason for p in exc.value.problems}
    assert "user class" in by_path["dhcp_identifier"]
    assert "model" in by_path
    assert "detect" in by_path  # a family of two needs rules


def test_ipxe_rejects_vci_and_arm() -> None:
    text = """
name: pc
arch: arm64
bootloader: ipxe
dhcp_identifier: vci
model: pc
"""
    with pytest.raises(ProfileError) as exc:
        parse_profile(text)
    paths = {p.path for p in exc.value.problems}
    assert {"dhcp_identifier", "arch"} <= paths


def test_tftp_options_are_bounded_with_their_paths() -> None:
    ok = parse_profile(MINIMAL.replace("uboot: {boot_command: booti}", "uboot: {boot_command: "
                                       "booti, tftp_blocksize: 1468, tftp_windowsize: 16}"))
    assert ok.uboot is not None
    assert (ok.uboot.tftp_blocksize, ok.uboot.tftp_windowsize) == (1468, 16)
    assert parse_profile(MINIMAL).uboot.tftp_windowsize is None  # type: ignore[union-attr]
    bad = MINIMAL.replace("uboot: {boot_command: booti}", "uboot: {boot_command: booti, "
                          "tftp_blocksize: 100, tftp_windowsize: 65}")
    with pytest.raises(ProfileError) as exc:
        parse_profile(bad)
    by_path = {p.path: p.reason for p in exc.value.problems}
    assert {"uboot.tftp_blocksize", "uboot.tftp_windowsize"} <= set(by_path)
    assert "512" in by_path["uboot.tftp_blocksize"] and "64" in by_path["uboot.tftp_windowsize"]


@pytest.mark.parametrize("name", ["Rpi", "rpi_4", "4rpi", "rpi-", "rpi--4", "rpi 4", "a" * 250])
def test_bad_model_names(name: str) -> None:
    with pytest.raises(ProfileError) as exc:
        parse_profile(MINIMAL.replace("model: myboard", f"model: '{name}'"))
    assert exc.value.problems[0].path == "model"


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(ProfileError) as exc:
        parse_profile("name: [unclosed\narch: arm64\n", "x.yaml")
    assert "line" in exc.value.problems[0].path


def test_not_a_mapping() -> None:
    with pytest.raises(ProfileError, match="mapping"):
        parse_profile("- a\n- b\n")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(binary)


def test_detection_outputs_must_be_listed() -> None:
    text = MINIMAL + """detect:
  method: uboot
  source: board_name
  table:
    x: {model: other}
"""
    with pytest.raises(ProfileError, match="other"):
        parse_profile(text)


@pytest.mark.parametrize("regex,fragment", [
    ("[0-9]+", "ranges"),
    ("a|b", "alternation"),
    ("\\d+", "backslash"),
    ("a{2}", "counted"),
    ("a*?", "lazy"),
    ("b*$", "empty string"),
    (".?[^a]", "backtrack"),
    ("a+b*", "more than one"),
    ("it's", "quote"),
    ("a^b", "first character"),
    ("(ab", "never closed"),
    ("", "empty"),
])
def test_regex_outside_common_subset(regex: str, fragment: str) -> None:
    problems = subset_problems(regex)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize("regex", ["^.*/", "[.]dtb$", "^bcm[0123456789]*-", "(rpi)-b", "[-a]+",
                                   "[^/]+$", "-rev[0123456789]*$"])
def test_regex_inside_common_subset(regex: str) -> None:
    assert subset_problems(regex) == []


def test_regex_error_reported_with_rule_path() -> None:
    text = MINIMAL.replace("model: myboard", "models: [a, b]") + """detect:
  method: uboot
  source: fdtfile
  substitutions:
    - {regex: '^x', replace: ''}
    - {regex: '[0-9]', replace: ''}
"""
    with pytest.raises(ProfileError) as exc:
        parse_profile(text)
    assert exc.value.problems[0].path == "detect.substitutions[1].regex"


def test_dump_roundtrip_and_digest() -> None:
    profile = load_profile(BOARDS[0])
    again = parse_profile(dump_profile(profile))
    assert again == profile
    assert profile_digest(again) == profile_digest(profile)


PC_FAMILY = """
name: pc
arch: x86_64
bootloader: ipxe
dhcp_identifier: uci
models: [pc-64, pc-32]
detect: {method: ipxe-cpuid, if_64bit: pc-64, otherwise: pc-32}
"""


def test_submodel_arch() -> None:
    p = parse_profile(PC_FAMILY + "model_arch: {pc-32: x86}\n")
    assert str(p.arch_of("pc-32")) == "x86" and str(p.arch_of("pc-64")) == "x86_64"
    assert p.models_of_arch("x86") == ("pc-32",) and p.models_of_arch("x86_64") == ("pc-64",)
    builtin = load_profile(Path(__file__).resolve().parent.parent / "boards" / "qemu-x86-64.yaml")
    assert str(builtin.arch_of("pc-x86-32")) == "x86"


@pytest.mark.parametrize("model_arch,path,fragment", [
    ("{pc-16: x86}", "model_arch.pc-16", "not in 'models'"),
    ("{pc-32: arm}", "model_arch.pc-32", "not x86 or x86_64"),
    ("{pc-64: x86, pc-32: x86}", "model_arch.pc-64", "long mode"),
    ("{}", "model_arch.pc-32", "declare its arch x86"),
    ("{pc-32: riscv}", "model_arch.pc-32", "arm"),
])
def test_submodel_arch_problems(model_arch: str, path: str, fragment: str) -> None:
    with pytest.raises(ProfileError) as exc:
        parse_profile(PC_FAMILY + f"model_arch: {model_arch}\n")
    reasons = {p.path: p.reason for p in exc.value.problems}
    assert path in reasons, reasons
    assert fragment in reasons[path]


@pytest.mark.parametrize("path,edit", [
    ("name", lambda d: d.update(name="rpi\n")),
    ("models[1]", lambda d: d["models"].__setitem__(1, "rpi-b-plus\n")),
    ("detect.source", lambda d: d["detect"].update(source="fdtfile\n")),
    ("uboot.addresses.Addresses.kernel", lambda d: d["uboot"].update(
        addresses={"kernel": "0x40080000\n", "fdt": "0x43000000", "ramdisk": "0x44000000",
                   "script": "0x40000000"})),
], ids=["name", "model", "source", "address"])
def test_trailing_newline_is_refused(path: str, edit) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 item 3: ``^...$`` with re.match accepted a final newline."""
    data = yaml.safe_load((BOARDS_DIR / "rpi.yaml").read_text())
    edit(data)
    with pytest.raises(ProfileError) as exc:
        parse_profile(yaml.safe_dump(data))
    # (an address is a union: pydantic also says it is not 'board-defaults')
    assert path in [p.path for p in exc.value.problems], exc.value.problems
    assert len(exc.value.problems) <= 2


def test_single_model_with_newline_is_refused() -> None:
    with pytest.raises(ProfileError) as exc:
        parse_profile(MINIMAL.replace("model: myboard", 'model: "myboard\\n"'))
    assert [p.path for p in exc.value.problems] == ["model"]


@pytest.mark.parametrize("regex", ["[^]", "[^]x", "(a))("])
def test_regex_python_cannot_compile_is_a_problem(regex: str) -> None:
    """Issue 14 item 4: ``[^]`` raised re.error out of the validator (a traceback)."""
    text = MINIMAL.replace("model: myboard", "models: [a, b]") + f"""detect:
  method: uboot
  source: fdtfile
  substitutions:
    - {{regex: '{regex}', replace: ''}}
"""
    with pytest.raises(ProfileError) as exc:
        parse_profile(text)
    assert exc.value.problems[0].path == "detect.substitutions[0].regex"


def test_huge_profile_is_refused_before_parsing(tmp_path: Path) -> None:
    """Issue 14 item 4: a 200 MB profile took 76 s and 638 MB; the cap answers at once."""
    big = tmp_path / "big.yaml"
    with open(big, "w") as f:
        f.write(MINIMAL)
        f.write("description: '" + "x" * (8 << 20) + "'\n")
    with pytest.raises(ProfileError, match="more than 256 KiB"):
        load_profile(big)
    with pytest.raises(ProfileError, match="more than 256 KiB"):
        parse_profile(big.read_text())
    assert main(["check", str(big)]) == 2
