"""The app's dependency contract: the committed one is covered, and its generator works.

The first half reads the committed app-contract.json and checks that the requirement
files, the base image's record and system-packages.toml cover it (offline, no checkout
of the app). The second half runs the generator (python -m tools.app_contract) for real
on a tiny app and site-packages made in a temporary folder.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from egstalker import pins
from tools.app_contract.catalog import Catalog
from tools.app_contract.elf import read_dynamic
from tools.app_contract.environment import Environment
from tools.app_contract.sonames import system_needs

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "pipeline" / "src" / "egstalker" / "data"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pinned(path: Path) -> dict[str, str]:
    """name -> the line's comment, for every requirement of a file."""
    found = {}
    for raw in path.read_text().splitlines():
        line, _, comment = raw.partition("#")
        if line.strip():
            requirement = Requirement(line.strip())
            found[canonicalize_name(requirement.name)] = comment.strip()
            assert str(requirement.specifier).startswith("=="), f"{raw!r} is not an exact pin"
    return found


@pytest.fixture(scope="module")
def contract() -> dict:
    return json.loads((DATA / "app-contract.json").read_text())


@pytest.fixture(scope="module")
def core() -> dict[str, str]:
    return pinned(DATA / "requirements.txt")


@pytest.fixture(scope="module")
def preprocessing() -> dict[str, str]:
    return pinned(DATA / "requirements-preprocessing.txt")


@pytest.fixture(scope="module")
def base() -> dict:
    return tomllib.loads((DATA / "base-provides.toml").read_text())


@pytest.fixture(scope="module")
def system() -> dict:
    return tomllib.loads((DATA / "system-packages.toml").read_text())


def core_entries(contract: dict) -> set[str]:
    return {name for name, e in contract["entry_points"].items() if e["part"] == "core"}


# --- the committed contract ---------------------------------------------------------------


def test_contract_is_for_the_pinned_app_commit(contract):
    assert contract["app"]["commit"] == pins.APP.commit


def test_train_render_and_preprocessing_are_covered(contract):
    entries = contract["entry_points"]
    assert {entries["train"]["script"], entries["render"]["script"]} == {"train.py", "render.py"}
    assert entries["train"]["part"] == entries["render"]["part"] == "core"
    assert entries["process"]["script"] == "data_utils/process.py"
    # process.py runs these through os.system: they are followed from it
    assert contract["modules"]["tensorflow"]["entry_points"]["process"] == "lazy"
    assert contract["modules"]["pytorch3d"]["entry_points"]["process"] == "lazy"


def test_every_module_comes_from_a_requirement_file_the_base_or_the_builder(
    contract, core, preprocessing, base
):
    provided = {*core, *preprocessing, *base["distributions"]["base"], *base["built"].values()}
    for module, record in contract["modules"].items():
        if record["optional"]:
            continue
        assert record["distribution"] in provided, (
            f"{module} ({record['distribution']}) is provided by no requirement file, "
            "nor by the base image or the builder"
        )


def test_train_and_render_need_nothing_from_preprocessing_only(contract, core, preprocessing, base):
    not_core = set(preprocessing) - set(core)
    for module, record in contract["modules"].items():
        if core_entries(contract) & set(record["entry_points"]):
            assert record["distribution"] not in not_core, (
                f"{module} is reached by {sorted(record['entry_points'])} but "
                f"{record['distribution']} is only in requirements-preprocessing.txt"
            )


def test_requirement_files_do_not_overlap_and_say_why(core, preprocessing):
    assert not set(core) & set(preprocessing)
    for name, comment in {**core, **preprocessing}.items():
        assert comment, f"{name}: say which part of the app needs it"


def test_the_base_is_held_by_the_constraints(core, preprocessing, base):
    lines = (DATA / "constraints.txt").read_text().splitlines()
    held = {canonicalize_name(re.split("[=<>]", line)[0]) for line in lines if line[:1].isalpha()}
    assert {"torch", "torchvision", "torchaudio", "numpy"} <= held
    assert not held & (set(core) | set(preprocessing))
    assert held <= set(base["distributions"]["base"])


def test_every_needed_soname_has_a_package_in_the_right_list(contract, system):
    runtime, preprocessing = system["runtime"]["packages"], system["preprocessing"]["packages"]
    for soname, record in contract["sonames"].items():
        if soname in system["skipped"]:
            assert system["skipped"][soname].strip(), f"{soname}: say why it is skipped"
            continue
        if soname in system["libraries"]:  # linked from a wheel in every image
            assert record["link"] == system["libraries"][soname]
            continue
        package = system["sonames"].get(soname)
        assert package, f"{soname} (needed by {record['needed_by']}) maps to no package"
        allowed = runtime if record["list"] == "runtime" else runtime + preprocessing
        assert package in allowed, f"{soname}: {package} must be in [{record['list']}]"


def test_train_and_render_get_their_libraries_at_import(contract, system):
    # what open3d and cv2 load at import, and conda's tkinter (scene/deformation.py)
    runtime = system["runtime"]["packages"]
    for soname in ("libX11.so.6", "libglib-2.0.so.0", "libgomp.so.1", "libglapi.so.0"):
        record = contract["sonames"][soname]
        assert record["loaded"] == "import", soname
        assert system["sonames"][soname] in runtime, soname
    assert "stdlib:tkinter" in contract["sonames"]["libX11.so.6"]["needed_by"]


def test_libgl_comes_from_open3ds_copy_linked_where_the_loader_looks(contract, system):
    record = contract["sonames"]["libGL.so.1"]
    # `import cv2` (its Qt) and `import open3d` (its pybind) need it; open3d ships one in
    # its own folder, which the loader never searches for them
    assert record["loaded"] == "import"
    assert {"open3d-cpu", "opencv-python"} <= set(record["needed_by"])
    assert record["link"] == system["libraries"]["libGL.so.1"] == "open3d/libGL.so.1"
    assert record["apt_package"] is None
    assert record["load_order"] == []  # found through the link, not by import order


def test_no_need_rests_on_import_order_alone(contract):
    # a copy the loader does not search serves only when something loaded it first:
    # each such need gets a package or a stated reason (the package loads its own copy)
    order_only = {s: r for s, r in contract["sonames"].items() if r["load_order"]}
    assert "libgomp.so.1" in order_only  # PyPI torch's private copy, if torch came first
    for soname, record in order_only.items():
        assert record["apt_package"] or record["skipped"], soname


def test_train_logs_to_tensorboard_only_where_preprocessing_installs_it(contract):
    guarded = contract["guarded_imports"]["torch.utils.tensorboard"]
    assert guarded["imported_by"] == ["train.py"]
    assert guarded["entry_points"] == {"train": "top-level"}
    # tensorflow-cpu requires tensorboard: in the images that preprocess, train.py's
    # `try: from torch.utils.tensorboard import SummaryWriter` succeeds (loading TensorFlow)
    assert guarded["needs"]["tensorboard"] == "preprocessing"


def test_commands_are_installed_or_linked(contract, system):
    runtime, preprocessing = system["runtime"]["packages"], system["preprocessing"]["packages"]
    for command, record in contract["commands"].items():
        package = system["commands"].get(command)
        if record["list"] == "runtime":
            assert package in runtime or command in system["links"], command
            assert package in runtime + preprocessing, f"{command} for preprocessing"
        else:
            assert package in runtime + preprocessing, command
    assert contract["commands"]["ffmpeg"]["list"] == "runtime"  # render.py muxes the audio


def test_system_package_lists_hold_debian_names_once(system):
    lists = [system[name]["packages"] for name in ("build", "runtime", "preprocessing")]
    names = [package for packages in lists for package in packages]
    assert len(names) == len(set(names))
    for package in [*names, *system["sonames"].values(), *system["commands"].values()]:
        assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package), package
    # what compiles pyaudio, whose Linux install is a source build
    assert "portaudio19-dev" in system["build"]["packages"]


def test_upstream_gaps_are_recorded(contract):
    gaps = {(gap["kind"], gap["name"]) for gap in contract["upstream_gaps"]}
    assert ("readme-path", "configs/egstalker_default.py") in gaps
    assert ("script", "nerf/asr.py") in gaps
    assert ("module", "scene.transformer.agent_attention_m") in gaps


# --- the generator, on a tiny app ---------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def dist(site: Path, name: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> None:
    """An installed distribution: its files and a dist-info with METADATA and RECORD."""
    info = site / f"{name}-1.0.dist-info"
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"]
    lines += [f"Requires-Dist: {r}\n" for r in requires]
    write(info / "METADATA", "".join(lines))
    for relative, text in files.items():
        write(site / relative, text)
    record = [f"{relative},," for relative in files] + [f"{info.name}/METADATA,,"]
    write(info / "RECORD", "\n".join(record) + "\n")


def compile_so(target: Path, *flags: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-o", str(target), "-x", "c", "-", "-Wl,--no-as-needed",
         *flags],
        input="int answer(void) { return 42; }\n", text=True, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    write(
        root / "train.py",
        """\
        import os
        import helpers
        import pkg.absent
        from cfg import settings
        try:
            import optlib
        except ImportError:
            optlib = None
        try:
            from toplib.extra import thing
        except ImportError:
            thing = None

        def mux():
            cmd = f"ffmpeg -i {os.sep} out.mov"
            os.system(cmd)

        if __name__ == "__main__":
            import mainlib
            os.system(f"python tools/child.py --x {os.sep}")
            os.system("python gone.py")
        """,
    )
    write(
        root / "helpers.py",
        """\
        import toplib
        import missing_local

        def later():
            import lazylib.sub

        if __name__ == "__main__":
            import neverlib
        """,
    )
    write(root / "pkg" / "__init__.py", "")
    write(root / "cfg" / "__init__.py", "")
    write(root / "cfg" / "settings.py", "import json\n")
    write(root / "tools" / "child.py", "import childlib\nfrom sibling import x\n")
    write(root / "tools" / "sibling.py", "import siblinglib\n")
    write(root / "prep.py", "import fancylib\n")
    write(root / "other" / "missing_local.py", "")
    write(root / "unused.py", "import scene.nowhere\nimport pkg.gone\n")
    write(
        root / "README.md",
        """\
        ```bash
        python train.py --configs configs/missing.py
        cd tools
        python child.py
        ```
        """,
    )
    return root


@pytest.fixture
def site(tmp_path: Path) -> Path:
    if shutil.which("cc") is None:
        pytest.skip("the shared-object fixtures need a C compiler (cc)")
    site = tmp_path / "site-packages"
    libs = tmp_path / "syslibs"
    compile_so(libs / "libfoo.so", "-Wl,-soname,libfoo.so.1")
    compile_so(libs / "libqux.so", "-Wl,-soname,libqux.so.1")
    compile_so(site / "toplib.libs" / "libbar-1a2b.so", "-Wl,-soname,libbar-1a2b.so",
               f"-L{libs}", "-lfoo")  # fmt: skip
    compile_so(site / "toplib" / "_ext.cpython-310-x86_64-linux-gnu.so",
               f"-L{site / 'toplib.libs'}", "-l:libbar-1a2b.so",
               "-Wl,-rpath,$ORIGIN/../toplib.libs", "-Wl,--enable-new-dtags")  # fmt: skip
    compile_so(site / "toplib" / "plugins" / "libplugin.so", f"-L{libs}", "-lqux")
    extra = "import json\nimport helperdep\nfrom . import y\nimport fancylib\n"
    extra += "try:\n    import optlib\nexcept ImportError:\n    pass\n"
    dist(site, "toplib", {"toplib/__init__.py": "from . import _ext\n",
                          "toplib/extra/__init__.py": extra}, ("helperdep",))  # fmt: skip
    for name in ("toplib/_ext.cpython-310-x86_64-linux-gnu.so", "toplib.libs/libbar-1a2b.so",
                 "toplib/plugins/libplugin.so"):  # fmt: skip
        record = site / "toplib-1.0.dist-info" / "RECORD"
        record.write_text(record.read_text() + f"{name},,\n")
    dist(site, "helperdep", {"helperdep/__init__.py": ""})
    dist(site, "lazylib", {"lazylib/__init__.py": "", "lazylib/sub.py": ""})
    dist(site, "fancylib", {"fancylib/__init__.py": ""})
    dist(site, "childlib", {"childlib.py": ""})
    dist(site, "siblinglib", {"siblinglib.py": ""})
    dist(site, "mainlib", {"mainlib/__init__.py": ""})
    dist(site, "optlib", {"optlib/__init__.py": ""})
    dist(site, "neverlib", {"neverlib/__init__.py": ""})
    return site


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    write(folder / "core.txt", "toplib==1.0\nmainlib==1.0\nlazylib==1.0\nchildlib==1.0\n")
    write(folder / "pre.txt", "fancylib==1.0  # prep.py\n")
    write(
        folder / "base.toml",
        """\
        [distributions]
        base = ["siblinglib"]
        [built]
        [modules]
        [sonames]
        system = ["libc.so.6"]
        conda = []
        [stdlib]
        json = ["libjson.so.1"]
        """,
    )
    write(
        folder / "system.toml",
        """\
        [sonames]
        "libfoo.so.1" = "libfoo1"
        "libjson.so.1" = "libjson1"
        [skipped]
        "libqux.so.1" = "a plugin nothing loads"
        [commands]
        ffmpeg = "ffmpeg"
        """,
    )
    return folder


def run_tool(app: Path, site: Path, data: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.app_contract", str(app), "--site-packages", str(site),
         "--commit", COMMIT, "--entry", "train=core:train.py",
         "--entry", "prep=preprocessing:prep.py",
         "--requirements", str(data / "core.txt"),
         "--preprocessing-requirements", str(data / "pre.txt"),
         "--base", str(data / "base.toml"), "--system-packages", str(data / "system.toml"),
         *extra],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip


def test_generator_follows_imports_and_commands(app, site, data):
    result = run_tool(app, site, data)
    assert result.returncode == 0, result.stderr
    contract = json.loads(result.stdout)
    modules = contract["modules"]
    assert modules["toplib"]["entry_points"] == {"train": "top-level"}
    assert modules["toplib"]["imported_by"] == ["helpers.py", "train.py"]
    assert modules["toplib"]["source"] == "core"
    assert modules["lazylib"]["entry_points"] == {"train": "lazy"}  # inside a function
    assert modules["fancylib"]["entry_points"] == {"prep": "top-level"}
    assert modules["fancylib"]["source"] == "preprocessing"
    assert modules["mainlib"]["entry_points"] == {"train": "top-level"}  # the script's main
    assert "neverlib" not in modules  # an imported module's main block never runs
    assert modules["optlib"]["optional"] is True
    assert modules["optlib"]["source"] == "missing"  # optional: not unresolved
    # `python tools/child.py` runs with tools/ first on sys.path
    assert modules["childlib"]["entry_points"] == {"train": "lazy"}
    assert modules["siblinglib"]["source"] == "base"
    assert "json" not in modules
    # guarded imports: where they succeed depends on what their module imports at start
    guarded = contract["guarded_imports"]
    assert guarded["toplib.extra"]["needs"] == {"fancylib": "preprocessing", "helperdep": "core"}
    assert guarded["toplib.extra"]["imported_by"] == ["train.py"]
    assert guarded["optlib"]["needs"] == {}  # installed here, pinned nowhere: optional
    assert contract["commands"]["ffmpeg"]["run_by"] == ["train.py"]
    assert contract["commands"]["ffmpeg"]["apt_package"] == "ffmpeg"
    gaps = {(g["kind"], g["name"]): g for g in contract["upstream_gaps"]}
    assert gaps["module", "missing_local"]["where"] == ["helpers.py"]
    assert gaps["module", "pkg.absent"]["entry_points"] == {"train": "top-level"}
    assert gaps["script", "gone.py"]["entry_points"] == {"train": "lazy"}
    assert gaps["module", "pkg.gone"]["entry_points"] == {}  # from a file nothing reaches
    assert ("readme-path", "configs/missing.py") in gaps
    assert ("readme-path", "tools/child.py") not in gaps  # README's `cd tools` is followed


def test_generator_reads_what_shared_objects_need(app, site, data):
    contract = json.loads(run_tool(app, site, data).stdout)
    sonames = contract["sonames"]
    # the extension module links the wheel's own libbar (RUNPATH), which links libfoo
    assert sonames["libfoo.so.1"]["loaded"] == "import"
    assert sonames["libfoo.so.1"]["objects"] == ["toplib.libs/libbar-1a2b.so"]
    assert sonames["libfoo.so.1"]["apt_package"] == "libfoo1"
    assert sonames["libfoo.so.1"]["list"] == "runtime"
    assert "libbar-1a2b.so" not in sonames
    # a plugin nothing links: needed on demand only, skipped with its reason
    assert sonames["libqux.so.1"]["loaded"] == "on-demand"
    assert sonames["libqux.so.1"]["skipped"] == "a plugin nothing loads"
    assert "libc.so.6" not in sonames
    # json's system library, because train.py reaches json (cfg/settings.py)
    assert sonames["libjson.so.1"]["needed_by"] == ["stdlib:json"]


def test_generator_output_is_stable(app, site, data, tmp_path):
    first = run_tool(app, site, data, "--output", str(tmp_path / "a.json"))
    second = run_tool(app, site, data)
    assert first.returncode == second.returncode == 0
    assert (tmp_path / "a.json").read_text() == second.stdout
    modules = list(json.loads(second.stdout)["modules"])
    assert modules == sorted(modules)


def test_generator_fails_on_what_nothing_provides(app, site, data):
    write(data / "core.txt", "toplib==1.0\nlazylib==1.0\nchildlib==1.0\n")  # no mainlib
    write(data / "system.toml", "[sonames]\n[skipped]\n[commands]\n")
    result = run_tool(app, site, data)
    assert result.returncode == 1
    assert "module mainlib: no requirement file or base provides it" in result.stderr
    assert "soname libfoo.so.1 (import; needed by toplib.libs/libbar-1a2b.so)" in result.stderr
    assert "soname libqux.so.1 (on-demand; needed by toplib/plugins/libplugin.so)" in result.stderr
    assert "command ffmpeg: no package" in result.stderr
    assert json.loads(result.stdout)["modules"]["mainlib"]["source"] == "missing"


def test_generator_refuses_a_core_module_pinned_for_preprocessing_only(app, site, data):
    write(data / "core.txt", "mainlib==1.0\nlazylib==1.0\nchildlib==1.0\n")
    write(data / "pre.txt", "toplib==1.0  # wrong place\nfancylib==1.0\n")
    result = run_tool(app, site, data)
    assert result.returncode == 1
    assert "module toplib: reached by train/render, pinned only in preprocessing" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--entry", "train"), "invalid entry point 'train': write NAME=PART:SCRIPT"),
        (("--commit", "HEAD"), "commit 'HEAD' is not a 40-digit hexadecimal git commit"),
        (("--entry", "x=core:nothere.py"), "entry point x: nothere.py is not a file of the app"),
    ],
)
def test_generator_names_bad_inputs(app, site, data, change, message):
    result = run_tool(app, site, data, *change)
    assert result.returncode == 2
    assert message in result.stderr


def test_generator_names_a_bad_site_packages_folder(app, data, tmp_path):
    result = run_tool(app, tmp_path, data)
    assert result.returncode == 2
    assert f"site-packages {tmp_path} holds no *.dist-info" in result.stderr


@pytest.mark.parametrize(
    ("dtags", "tag"), [("--enable-new-dtags", "RUNPATH"), ("--disable-new-dtags", "RPATH")]
)
def test_elf_reader_agrees_with_readelf(tmp_path, dtags, tag):
    if shutil.which("readelf") is None or shutil.which("cc") is None:
        pytest.skip("needs readelf and cc")
    target = tmp_path / "libx.so"
    compile_so(target, "-Wl,-soname,libx.so.3", "-lm", "-Wl,-rpath,$ORIGIN/lib:/opt/x",
               f"-Wl,{dtags}")  # fmt: skip
    listing = subprocess.run(["readelf", "-d", str(target)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    dynamic = read_dynamic(target)
    assert dynamic is not None
    assert list(dynamic.needed) == re.findall(r"\(NEEDED\).*\[(.+)\]", listing)
    assert dynamic.soname == "libx.so.3"
    (written,) = re.findall(rf"\({tag}\).*\[(.+)\]", listing)
    paths = {"RPATH": dynamic.rpath, "RUNPATH": dynamic.runpath}
    assert list(paths.pop(tag)) == written.split(":") == ["$ORIGIN/lib", "/opt/x"]
    assert paths.popitem()[1] == ()  # the other tag is not there, and not mixed in
    assert read_dynamic(Path(__file__)) is None  # not an ELF file


# --- the resolver, on shared objects shaped like site-packages ----------------------------


def shared_object(
    target: Path, soname: str = "", needs: tuple[Path, ...] = (), *, rpath: str = "",
    runpath: str = "",
) -> Path:  # fmt: skip
    """A shared object built with cc: its SONAME, the libraries it links, RPATH or RUNPATH."""
    flags = [f"-Wl,-soname,{soname}"] if soname else []
    for library in needs:
        flags += [f"-L{library.parent}", f"-l:{library.name}"]
    if rpath:
        flags += [f"-Wl,-rpath,{rpath}", "-Wl,--disable-new-dtags"]
    if runpath:
        flags += [f"-Wl,-rpath,{runpath}", "-Wl,--enable-new-dtags"]
    compile_so(target, *flags)
    return target


EXT = ".cpython-310-x86_64-linux-gnu.so"


@pytest.fixture
def loader_site(tmp_path: Path) -> Path:
    """Wheels whose extension modules find their libraries, or not, as the loader would."""
    if shutil.which("cc") is None:
        pytest.skip("the shared-object fixtures need a C compiler (cc)")
    site = tmp_path / "site-packages"
    # a package bundling a private libfoo.so.1 beside its extension (RUNPATH $ORIGIN)
    foo = shared_object(site / "owner" / "libfoo.so.1", "libfoo.so.1")
    shared_object(site / "owner" / f"_own{EXT}", needs=(foo,), runpath="$ORIGIN")
    # another package's extension needing libfoo.so.1, with nothing pointing at owner/
    shared_object(site / "borrower" / f"_borrow{EXT}", needs=(foo,))
    # RUNPATH $ORIGIN/../runner.libs finds libbaz; RUNPATH is not inherited: libdeep is not
    deep = shared_object(site / "runner.libs" / "libdeep.so.1", "libdeep.so.1")
    baz = shared_object(site / "runner.libs" / "libbaz.so.1", "libbaz.so.1", (deep,))
    shared_object(site / "runner" / f"_run{EXT}", needs=(baz,), runpath="$ORIGIN/../runner.libs")
    # RPATH is inherited: libmid (no paths of its own) finds libdeep2 through the extension's
    # RPATH; libmid2 has a RUNPATH of its own, so the loader ignores its loaders' RPATH
    deep2 = shared_object(site / "rpather.libs" / "libdeep2.so.1", "libdeep2.so.1")
    mid = shared_object(site / "rpather.libs" / "libmid.so.1", "libmid.so.1", (deep2,))
    mid2 = shared_object(site / "rpather.libs" / "libmid2.so.1", "libmid2.so.1", (deep2,),
                         runpath="/nonexistent")  # fmt: skip
    for name, library in (("_rp", mid), ("_rp2", mid2)):
        shared_object(site / "rpather" / f"{name}{EXT}", needs=(library,),
                      rpath="$ORIGIN/../rpather.libs")  # fmt: skip
    # conda's python has RPATH $ORIGIN/../lib: it serves objects without a RUNPATH only
    conda = shared_object(tmp_path / "conda" / "libconda.so.1", "libconda.so.1")
    shared_object(site / "condauser" / f"_plain{EXT}", needs=(conda,))
    shared_object(site / "condauser" / f"_runpath{EXT}", needs=(conda,), runpath="$ORIGIN")
    # a RUNPATH outside site-packages: whatever the host has there, the image has not
    outside = shared_object(tmp_path / "elsewhere" / "libout.so.1", "libout.so.1")
    shared_object(site / "condauser" / f"_outside{EXT}", needs=(outside,),
                  runpath=str(outside.parent))  # fmt: skip
    # a plugin nothing links, with RPATH: what it loads inherits it, as when a feature loads it
    p2 = shared_object(site / "plugger.libs" / "libp2.so.1", "libp2.so.1")
    p1 = shared_object(site / "plugger.libs" / "libp1.so.1", "libp1.so.1", (p2,))
    shared_object(site / "plugger" / "plugins" / "libplug.so", needs=(p1,),
                  rpath="$ORIGIN/../../plugger.libs")  # fmt: skip
    for name in ("owner", "borrower", "runner", "rpather", "condauser", "plugger"):
        built = [p.relative_to(site).as_posix() for p in site.glob(f"{name}*/**/*.so*")]
        dist(site, name, {f"{name}/__init__.py": ""})
        record = site / f"{name}-1.0.dist-info" / "RECORD"
        record.write_text(record.read_text() + "".join(f"{f},,\n" for f in built))
    return site


def resolve(site: Path, data: Path, libraries: str = "") -> tuple[dict[str, dict], list[str]]:
    write(data / "core.txt", "owner==1.0\nborrower==1.0\nrunner==1.0\nrpather==1.0\n"
          "condauser==1.0\n")  # fmt: skip
    base = (data / "base.toml").read_text().replace("conda = []", 'conda = ["libconda.so.1"]')
    (data / "base.toml").write_text(base)
    write(data / "system.toml", f"[sonames]\n[skipped]\n[commands]\n[libraries]\n{libraries}")
    catalog = Catalog.read(data / "core.txt", data / "pre.txt", data / "base.toml",
                           data / "system.toml")  # fmt: skip
    parts = dict.fromkeys(
        ("owner", "borrower", "runner", "rpather", "condauser", "plugger"), "core"
    )
    return system_needs(Environment.read(site), catalog, parts)


def test_a_library_in_another_wheels_folder_is_missing(loader_site, data):
    sonames, unresolved = resolve(loader_site, data)
    foo = sonames["libfoo.so.1"]
    assert foo["objects"] == [f"borrower/_borrow{EXT}"]  # owner's extension finds its own
    assert foo["loaded"] == "import"
    # found only when owner was imported first: a load-order accident, reported as such
    assert foo["load_order"] == ["owner/libfoo.so.1"]
    assert foo["apt_package"] is foo["link"] is None
    assert any(
        p.startswith("soname libfoo.so.1 (import; needed by borrower/")
        and p.endswith("found only if loaded first, from a folder the loader does not "
                       "search for it: owner/libfoo.so.1")
        for p in unresolved
    ), unresolved  # fmt: skip


def test_runpath_is_searched_but_not_inherited(loader_site, data):
    sonames, _ = resolve(loader_site, data)
    assert "libbaz.so.1" not in sonames  # RUNPATH $ORIGIN/../runner.libs
    assert sonames["libdeep.so.1"]["objects"] == ["runner.libs/libbaz.so.1"]
    assert sonames["libdeep.so.1"]["load_order"] == ["runner.libs/libdeep.so.1"]


def test_rpath_is_inherited_unless_the_object_has_a_runpath(loader_site, data):
    sonames, _ = resolve(loader_site, data)
    assert "libmid.so.1" not in sonames
    assert "libmid2.so.1" not in sonames
    # libmid finds libdeep2 through its loader's RPATH; libmid2's RUNPATH stops that
    assert sonames["libdeep2.so.1"]["objects"] == ["rpather.libs/libmid2.so.1"]


def test_what_a_plugin_loads_inherits_its_rpath(loader_site, data):
    sonames, _ = resolve(loader_site, data)
    assert "libp1.so.1" not in sonames
    assert "libp2.so.1" not in sonames


def test_conda_libraries_serve_only_objects_without_runpath(loader_site, data):
    sonames, _ = resolve(loader_site, data)
    assert sonames["libconda.so.1"]["objects"] == [f"condauser/_runpath{EXT}"]


def test_folders_outside_site_packages_count_for_nothing(loader_site, data):
    sonames, _ = resolve(loader_site, data)
    assert sonames["libout.so.1"]["objects"] == [f"condauser/_outside{EXT}"]


def test_a_library_link_in_a_default_folder_is_found_and_listed(loader_site, data):
    sonames, unresolved = resolve(loader_site, data, '"libfoo.so.1" = "owner/libfoo.so.1"\n')
    foo = sonames["libfoo.so.1"]
    assert foo["link"] == "owner/libfoo.so.1"
    assert foo["load_order"] == []
    assert foo["objects"] == [f"borrower/_borrow{EXT}"]
    assert not [p for p in unresolved if "libfoo.so.1" in p]
    # a link to a file no wheel has serves nothing
    sonames, unresolved = resolve(loader_site, data, '"libfoo.so.1" = "owner/libnone.so.1"\n')
    assert sonames["libfoo.so.1"]["link"] is None
    assert [p for p in unresolved if p.startswith("soname libfoo.so.1")]


def dlopen(*paths: Path) -> str:
    """Load the objects in order in a fresh Python, as imports would: '' or the loader's error."""
    code = "import ctypes, sys\nfor path in sys.argv[1:]:\n    ctypes.CDLL(path)\n"
    result = subprocess.run([sys.executable, "-c", code, *map(str, paths)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    return "" if result.returncode == 0 else result.stderr.strip().splitlines()[-1]


def test_the_real_loader_agrees_with_the_resolver(loader_site):
    ext = {p.name.split(".")[0]: p for p in loader_site.glob(f"*/*{EXT}")}
    assert dlopen(ext["_own"]) == ""
    assert "libfoo.so.1: cannot open shared object file" in dlopen(ext["_borrow"])
    assert dlopen(ext["_own"], ext["_borrow"]) == ""  # the load-order accident
    assert "libdeep.so.1: cannot open shared object file" in dlopen(ext["_run"])
    assert dlopen(ext["_rp"]) == ""
    assert "libdeep2.so.1: cannot open shared object file" in dlopen(ext["_rp2"])
