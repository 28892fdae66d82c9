"""What the user gives is checked before any build: the checkout's shape, the output folder.

The checkout is read as the engine reads an uploaded folder (Dagger 0.21, core/directory.go
Stat through containerd's fs.RootPath): links resolve inside the tree, never outside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from egstalker import Egstalker, pins
from egstalker.cli import main, uploaded
from egstalker.errors import InvalidOption
from egstalker.options import check_local_source, check_output_folder, kind_in_tree
from tests.plan import calls

OUTSIDE = "the build reads it: "


def checkout(root: Path) -> Path:
    (root / "scene").mkdir(parents=True)
    (root / "train.py").write_text("print('train')\n")
    (root / "render.py").write_text("print('render')\n")
    return root


def test_a_plain_checkout_passes(tmp_path: Path) -> None:
    app = checkout(tmp_path / "EGSTalker")
    assert check_local_source(app) == app


def test_links_inside_the_checkout_pass(tmp_path: Path) -> None:
    app = checkout(tmp_path / "EGSTalker")
    (app / "src").mkdir()
    (app / "train.py").rename(app / "src" / "train.py")
    (app / "train.py").symlink_to("src/train.py")
    (app / "scene").rename(app / "src" / "scene")
    (app / "scene").symlink_to("src/../src/scene")
    assert check_local_source(app) == app
    assert kind_in_tree(app, "scene") == "directory"


@pytest.mark.parametrize(
    ("change", "wrong"),
    [
        (lambda app, out: replace(app / "train.py", "folder"), "train.py a file"),
        (lambda app, out: replace(app / "scene", "file"), "scene a directory"),
        # a link out of the tree, by an absolute path or by climbing: nothing is there
        (lambda app, out: relink(app / "render.py", out / "render.py"), "render.py a file"),
        (lambda app, out: relink(app / "render.py", Path("../outside/render.py")),
         "render.py a file"),
        (lambda app, out: relink(app / "scene", out), "scene a directory"),
        (lambda app, out: relink(app / "train.py", Path("train.py")), "train.py a file"),  # a loop
        (lambda app, out: relink(app / "train.py", Path("nowhere.py")), "train.py a file"),
    ],
)  # fmt: skip
def test_a_checkout_of_the_wrong_shape_is_refused(tmp_path: Path, change, wrong: str) -> None:
    app, outside = checkout(tmp_path / "EGSTalker"), checkout(tmp_path / "outside")
    change(app, outside)
    with pytest.raises(InvalidOption) as err:
        check_local_source(app)
    assert str(err.value).startswith(f"invalid source '{app}': it is not an EGSTalker checkout")
    assert f"{wrong} was expected" in str(err.value)


def test_an_absolute_link_starts_at_the_checkouts_root(tmp_path: Path) -> None:
    """As the engine resolves it: /train.py means the checkout's own train.py."""
    app = checkout(tmp_path / "EGSTalker")
    (app / "real.py").write_text("")
    (app / "render.py").unlink()
    (app / "render.py").symlink_to("/real.py")
    assert kind_in_tree(app, "render.py") == "file"
    (app / "render.py").unlink()
    (app / "render.py").symlink_to(app / "real.py")  # the host's path: not inside the tree
    assert kind_in_tree(app, "render.py") is None


def replace(path: Path, kind: str) -> None:
    """``path`` made the other kind: a folder where a file was, or the reverse."""
    relink(path, None)
    if kind == "folder":
        path.mkdir()
    else:
        path.write_text("")


def relink(link: Path, target: Path | None) -> None:
    if link.is_dir() and not link.is_symlink():
        link.rmdir()
    else:
        link.unlink()
    if target is not None:
        link.symlink_to(target)


def test_the_cli_refuses_the_shape_before_any_engine_work(tmp_path: Path) -> None:
    app = checkout(tmp_path / "EGSTalker")
    relink(app / "scene", tmp_path)
    result = CliRunner().invoke(main, ["build", "--source", str(app)], env={"PATH": ""})
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()  # not the missing engine: this comes first
    assert "scene a directory was expected" in line


def test_the_upload_leaves_out_what_the_module_ignores(tmp_path: Path) -> None:
    """One list for both: the CLI's upload and the module's Ignore are pins.APP_EXCLUDE."""
    (sent,) = calls(uploaded(tmp_path))[1:]
    assert sent.args == {"path": str(tmp_path), "exclude": list(pins.APP_EXCLUDE)}
    source = Egstalker.__dagger_object_type__.get_constructor().parameters["source"]
    assert source.ignore == list(pins.APP_EXCLUDE)
    assert {".git", "result-video"} <= set(pins.APP_EXCLUDE)


# --- the output folder -------------------------------------------------------------------


def test_a_new_output_folder_passes_and_nothing_is_left(tmp_path: Path) -> None:
    wanted = tmp_path / "a" / "b" / "build"
    assert check_output_folder(str(wanted)) == wanted
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    assert check_output_folder(str(tmp_path / "kept")) == tmp_path / "kept"
    assert list((tmp_path / "kept").iterdir()) == []


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: "", "give the folder to write to"),
        (lambda tmp: "  ", "give the folder to write to"),
        (lambda tmp: file(tmp / "report.txt"), "it is a file; give a folder"),
        (lambda tmp: file(tmp / "notes") + "/sub/build", "notes' is a file, not a folder"),
        (lambda tmp: dangling(tmp / "out"), "it is a link to nothing"),
        (lambda tmp: "/proc/egstalker-build", "this user cannot create or write to it"),
    ],
)
def test_a_bad_output_folder_is_refused(tmp_path: Path, make, says: str) -> None:
    value = make(tmp_path)
    with pytest.raises(InvalidOption, match=says) as err:
        check_output_folder(value)
    assert str(err.value).startswith("invalid output ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any folder")
def test_an_unwritable_output_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(InvalidOption, match="cannot create or write to it"):
        check_output_folder(str(locked / "build"))


def file(path: Path) -> str:
    path.write_text("")
    return str(path)


def dangling(path: Path) -> str:
    path.symlink_to(path.parent / "gone")
    return str(path)


@pytest.mark.parametrize("command", ["build", "report"])
def test_the_cli_checks_the_output_folder_before_any_engine_work(
    tmp_path: Path, command: str
) -> None:
    below_a_file = file(tmp_path / "notes") + "/build"
    result = CliRunner().invoke(main, [command, "-o", below_a_file], env={"PATH": ""})
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: invalid output '{below_a_file}': ")
    assert "Traceback" not in result.output
