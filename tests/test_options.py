from __future__ import annotations

from pathlib import Path

import pytest

from egstalker import pins
from egstalker.errors import InvalidOption
from egstalker.options import (
    MAX_JOBS_LIMIT,
    check_app_entries,
    check_commit,
    check_image_ref,
    check_local_source,
    check_max_jobs,
)


@pytest.mark.parametrize("jobs", [None, 1, 8, MAX_JOBS_LIMIT])
def test_max_jobs_accepted(jobs: int | None) -> None:
    assert check_max_jobs(jobs) == jobs


@pytest.mark.parametrize("jobs", [0, -1, MAX_JOBS_LIMIT + 1, 10**12])
def test_max_jobs_refused(jobs: int) -> None:
    with pytest.raises(InvalidOption, match=rf"invalid max-jobs {jobs}: use a whole number"):
        check_max_jobs(jobs)


@pytest.mark.parametrize(
    "ref",
    [
        pins.DEVEL_IMAGE,
        pins.RUNTIME_IMAGE,
        "ubuntu",
        "ghcr.io/team/egstalker:1.0",
        "localhost:5000/a/b_c__d-e:tag",
        "nvcr.io/nvidia/pytorch@sha256:" + "a" * 64,
        "pytorch/pytorch:2.1.2-cuda11.8-cudnn8-devel@sha256:" + "0" * 64,
    ],
)
def test_image_refs_accepted(ref: str) -> None:
    assert check_image_ref("devel-image", ref) == ref


@pytest.mark.parametrize(
    "ref",
    ["", " ", "Pytorch/Pytorch", "a b", "img:tag;rm -rf /", "img@sha256:abc", "img:", "ímage"],
)
def test_image_refs_refused(ref: str) -> None:
    with pytest.raises(InvalidOption, match=r"invalid runtime-image .*use an image reference"):
        check_image_ref("runtime-image", ref)


def test_commits() -> None:
    assert check_commit("simple-knn-commit", pins.SIMPLE_KNN.commit) == pins.SIMPLE_KNN.commit
    commit = pins.SIMPLE_KNN.commit
    for bad in ["", "44f7642", "main", commit.upper(), commit + "0"]:
        with pytest.raises(InvalidOption, match=r"invalid simple-knn-commit .*40-character"):
            check_commit("simple-knn-commit", bad)


def test_app_entries_accept_an_egstalker_checkout() -> None:
    check_app_entries(["train.py", "render.py", "scene/", "utils/", "README.md"])
    check_app_entries(["train.py", "render.py", "scene"])


@pytest.mark.parametrize(
    ("entries", "missing"),
    [
        (["render.py", "scene/"], "train.py"),
        (["train.py", "render.py"], "scene"),
        ([], "train.py, render.py, scene"),
        (["pipeline/", "tests/", "README.md"], "train.py, render.py, scene"),
    ],
)
def test_app_entries_refuse_other_trees(entries: list[str], missing: str) -> None:
    with pytest.raises(InvalidOption, match=f"not an EGSTalker checkout: {missing} missing"):
        check_app_entries(entries)


def test_a_source_without_a_path_is_named_by_what_it_holds() -> None:
    with pytest.raises(InvalidOption) as err:
        check_app_entries(["README.md", "pipeline/", "tests/", "Makefile"])
    assert str(err.value).startswith(
        "invalid source 'the directory holding Makefile, README.md, pipeline/, tests/': "
        "it is not an EGSTalker checkout: train.py, render.py, scene missing"
    )
    with pytest.raises(InvalidOption, match="invalid source 'an empty directory'"):
        check_app_entries([])


def test_a_local_source_is_checked_with_its_path(tmp_path: Path) -> None:
    app = tmp_path / "EGSTalker"
    (app / "scene").mkdir(parents=True)
    (app / "train.py").write_text("")
    with pytest.raises(InvalidOption) as err:
        check_local_source(app)
    assert str(err.value).startswith(f"invalid source '{app}': it is not an EGSTalker checkout")
    (app / "render.py").write_text("")
    assert check_local_source(app) == app


@pytest.mark.parametrize(
    ("value", "says"),
    [(4.5, "it is a float"), (True, "it is a bool"), ("4", "it is a str")],
)
def test_max_jobs_must_be_a_true_integer(value: object, says: str) -> None:
    with pytest.raises(InvalidOption, match=f"invalid max-jobs .*: {says}; use a whole number"):
        check_max_jobs(value)  # type: ignore[arg-type]
