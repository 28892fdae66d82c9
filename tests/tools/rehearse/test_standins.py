"""tools.rehearse.standins: which Python may stand for the bases', and how it is relocated."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from egstalker import pins, steps
from tools.rehearse.__main__ import debian_names
from tools.rehearse.replay import RehearsalError
from tools.rehearse.standins import CONDA, STANDINS, Python, _conda_python


@pytest.mark.skipif(sys.version_info[:2] == (3, 10), reason="needs a Python other than 3.10")
def test_only_a_python_3_10_stands_for_the_bases() -> None:
    with pytest.raises(RehearsalError, match=r"is Python 3\.\d+: the bases' Python is 3\.10"):
        Python.of(Path(sys.executable))


def test_a_python_that_does_not_run_is_named(tmp_path: Path) -> None:
    with pytest.raises(RehearsalError, match=f"--python {tmp_path / 'none'} does not run"):
        Python.of(tmp_path / "none")


def test_conda_lib_gets_what_python_links_but_the_system_and_libx11(tmp_path: Path) -> None:
    tkinter = next(Path(sys.base_prefix).glob("lib/python3.*/lib-dynload/_tkinter*.so"), None)
    if tkinter is None:
        pytest.skip("this Python has no _tkinter to read")
    (tmp_path / "lib").mkdir()
    shutil.copy(tkinter, tmp_path / "lib")
    python = Python(Path(sys.executable), tmp_path, "3.x")

    names = {path.name for path in python.conda_libraries()}

    assert {"libtk8.6.so", "libtcl8.6.so"} <= names  # conda ships Tcl/Tk beside its python
    assert not names & {"libc.so.6", "libm.so.6", "libz.so.1", "libX11.so.6", "libxcb.so.1"}


def test_a_copied_build_is_relocated_to_opt_conda(tmp_path: Path) -> None:
    built_at = Path("/home/someone/.pyenv/versions/3.10.13")
    conda = tmp_path / "conda"
    sysconfig = conda / "lib" / "python3.10" / "_sysconfigdata__linux_x86_64-linux-gnu.py"
    sysconfig.parent.mkdir(parents=True)
    sysconfig.write_text(f"build_time_vars = {{'INCLUDEPY': '{built_at}/include/python3.10'}}\n")
    (conda / "bin").mkdir()
    (conda / "bin" / "pip3").write_text(f"#!{built_at}/bin/python3.10\nimport pip\n")

    _conda_python(conda, built_at)

    assert f"'{CONDA}/include/python3.10'" in sysconfig.read_text()
    assert (conda / "bin" / "pip3").read_text().startswith(f"#!{CONDA}/bin/python3.10\n")
    assert (conda / "bin" / "python").is_symlink()


def test_the_plans_apt_step_gets_debians_names_and_nothing_else_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(STANDINS["apt"], "renames", {"libglapi-mesa": "libglapi-mesa-bookworm"})
    apt = ["sh", steps.program_path("apt_install.sh"), "libx11-6", "libglapi-mesa"]
    assert debian_names(apt) == [*apt[:3], "libglapi-mesa-bookworm"]
    assert debian_names(["pip", "install", "libglapi-mesa"]) == ["pip", "install", "libglapi-mesa"]


def test_every_package_the_images_list_is_known_to_the_rehearsal() -> None:
    """A jammy name missing from bookworm needs a rename: the lists are the image's own."""
    renames = STANDINS["apt"]["renames"]
    assert set(renames) <= set(pins.BUILD_APT_PACKAGES + pins.RUNTIME_APT_PACKAGES
                               + pins.PREPROCESSING_APT_PACKAGES)  # fmt: skip
