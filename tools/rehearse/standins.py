"""The base images stood in for: Debian minbase, a CPython 3.10 at /opt/conda, PyPI's torch.

Three layers, kept in the cache under a key of everything that makes them:

- ``debian``: ``mmdebstrap --variant=minbase`` of standins.toml's suite, with the bases'
  own apt packages and the Debian libraries the stand-in Python links;
- ``conda``: that Python copied to /opt/conda (its site-packages left behind), its RPATH
  set to ``$ORIGIN/../lib`` as conda's python has it, then, inside the root, pip from
  ``ensurepip`` and the versions of torch, torchvision, torchaudio and numpy that
  constraints.txt pins (what the bases hold), and a ``conda-meta`` record of the Python;
- ``devel``: the devel base's compilers and a CUDA toolkit (``tools/cuda_toolchain``) at
  /usr/local/cuda.

The runtime base is ``debian`` + ``conda``; the devel base adds ``devel``. Both hold the
same /opt/conda, as the real bases do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from egstalker import pins
from egstalker.assets import asset_text
from egstalker.baseimages import BASE_IMAGES
from tools.rehearse import trees
from tools.rehearse.replay import Base, Ctr, Mount, RehearsalError, Replayer

STANDINS = tomllib.loads(Path(__file__).with_name("standins.toml").read_text())
# Part of every layer's cache key: how a layer is made changes with this module.
RECIPE = Path(__file__).read_text() + json.dumps(STANDINS, sort_keys=True)
CONDA = pins.CONDA_DIR
PIP_CACHE = f"{pins.ROOT_HOME}/.cache/pip"  # pip's, for the stand-in base's own installs


@dataclass(frozen=True)
class Python:
    """The CPython 3.10 standing for the bases' conda Python: its prefix and version."""

    executable: Path
    prefix: Path
    version: str

    @classmethod
    def of(cls, executable: Path) -> Python:
        probe = "import sys, json; print(json.dumps([sys.base_prefix, list(sys.version_info)]))"
        try:
            out = subprocess.run(
                [str(executable), "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError) as error:
            raise RehearsalError(f"--python {executable} does not run: {error}") from None
        prefix, info = json.loads(out)
        if info[:2] != [3, 10]:
            raise RehearsalError(
                f"--python {executable} is Python {info[0]}.{info[1]}: the bases' Python is "
                "3.10; give a CPython 3.10 (e.g. pyenv's)"
            )
        return cls(executable, Path(prefix), ".".join(map(str, info[:3])))

    def linked(self) -> set[Path]:
        """Every library outside its prefix that its binaries load (``ldd``'s closure)."""
        found: set[Path] = set()
        for file in self.prefix.rglob("*"):
            if file.is_file() and not file.is_symlink() and _is_elf(file):
                found |= _ldd(file) - {p for p in _ldd(file) if self.prefix in p.parents}
        return found

    def conda_libraries(self) -> list[Path]:
        """The libraries to put in /opt/conda/lib, as conda ships them beside its python.

        All it links but what the bases take from the system (base-provides.toml's system
        sonames, and the sonames its [stdlib] table names, with what they link).
        """
        provides = tomllib.loads(asset_text("data/base-provides.toml"))
        system = set(provides["sonames"]["system"])
        linked = self.linked()
        for path in linked:
            if path.name in {s for sonames in provides["stdlib"].values() for s in sonames}:
                system |= {path.name} | {p.name for p in _ldd(path)}
        return sorted(p for p in linked if p.name not in system)


def _ldd(file: Path) -> set[Path]:
    out = subprocess.run(["ldd", str(file)], capture_output=True, text=True, check=False).stdout
    return {
        Path(target)
        for line in out.splitlines()
        if "=>" in line and (target := line.split("=>")[1].split()[0]).startswith("/")
    }


def _is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def _key(*parts: object) -> str:
    """A cache key of what makes a layer: ``parts`` and this module's own code."""
    text = json.dumps(parts, sort_keys=True, default=str) + RECIPE
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class BaseStandins:
    """Builds (or finds in the cache) the stand-in layers, and maps image names to them."""

    def __init__(
        self, cache: Path, python: Python, cuda_toolchain: Path, log: Callable[[str], None]
    ) -> None:
        self.cache = cache
        self.python = python
        self.cuda_toolchain = cuda_toolchain
        self.log = log
        self.replayer: Replayer | None = None

    def describe(self) -> list[str]:
        """Every stand-in, for the report."""
        devel = STANDINS["bases"]["devel"]
        return [
            f"base OS: Debian {STANDINS['suite']} minbase (mmdebstrap) for Ubuntu 22.04",
            f"/opt/conda: CPython {self.python.version} from {self.python.prefix} for the "
            "bases' conda Python 3.10; in /opt/conda/lib, as conda ships them, the host's "
            "copies of the libraries it links (but the system's C libraries and libX11's "
            "family): " + ", ".join(p.name for p in self.python.conda_libraries()),
            "torch, torchvision, torchaudio, numpy: PyPI's releases of the versions "
            "constraints.txt pins (CUDA 12 builds) for the bases' conda packages (CUDA 11.8)",
            f"devel toolchain: CUDA {devel['cuda']} at /usr/local/cuda (tools/cuda_toolchain: "
            "PyPI's wheels, nvcc from Debian) for CUDA 11.8; Debian's "
            f"{', '.join(devel['compilers'])} for gcc 11",
        ]

    def base(self, address: str) -> Base:
        for name, image in BASE_IMAGES.items():
            if address in (image.ref, image.tag):
                return self.layers(name)
        raise RehearsalError(f"no stand-in for the base image {address!r}")

    def layers(self, name: str) -> Base:
        config = STANDINS["bases"][name]
        debian = self._debian()
        conda = self._conda(debian)
        layers = (debian, conda)
        if name == "devel":
            layers += (self._devel(debian, conda),)
        return Base(layers, tuple(config["env"].items()), config["workdir"])

    # --- the layers ---

    def _debian(self) -> Path:
        packages = sorted({p for b in STANDINS["bases"].values() for p in b["packages"]})
        target = self.cache / "bases" / f"debian-{_key(STANDINS['suite'], packages)}"
        if target.is_dir():
            return target
        self.log(f"base: mmdebstrap {STANDINS['suite']} minbase with {', '.join(packages)}")
        debs = self.cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--mode=root",
                f"--include={','.join(packages)}",
                "--skip=download/empty",
                f'--setup-hook=mkdir -p "$1/var/cache/apt/archives"; '
                f"find {debs} -name '*.deb' -exec cp {{}} \"$1/var/cache/apt/archives/\" \\;",
                f"--customize-hook=sync-out /var/cache/apt/archives {debs}",
                '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
                STANDINS["suite"],
                str(partial),
                STANDINS["mirror"],
            ],
            check=True,
        )
        partial.rename(target)
        return target

    def _built(self, name: str, lowers: tuple[Path, ...], fill: Callable[[Ctr], Ctr]) -> Path:
        """A layer made by ``fill`` over ``lowers``, kept in the cache as ``name``."""
        target = self.cache / "bases" / name
        if target.is_dir():
            return target
        assert self.replayer is not None
        replayer = self.replayer
        ctr = Ctr(
            layers=tuple(replayer.store.adopt(layer) for layer in lowers),
            env=(
                (
                    "PATH",
                    f"{CONDA}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                ),
            ),
            mounts=((PIP_CACHE, Mount("cache", replayer.volume("rehearse-base-pip"))),),
        )
        ctr = replayer.close_layer(fill(replayer.open_layer(ctr)))
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(replayer.store.path(ctr.layers[-1]), partial)
        partial.rename(target)
        return target

    def _conda(self, debian: Path) -> Path:
        constraints = asset_text(f"data/{pins.CONSTRAINTS}")
        libraries = [p.name for p in self.python.conda_libraries()]
        name = f"conda-{_key(debian.name, str(self.python.prefix), libraries, constraints)}"

        def fill(ctr: Ctr) -> Ctr:
            assert self.replayer is not None
            assert ctr.root is not None
            self.log(f"base: CPython {self.python.version} at {CONDA}, torch from PyPI")
            site = f"lib/python{self.python.version.rsplit('.', 1)[0]}/site-packages"
            conda = ctr.root / CONDA.lstrip("/")
            trees.copy_tree(self.python.prefix, conda, exclude=[f"{site}/*"])
            for library in self.python.conda_libraries():
                shutil.copyfile(library, conda / "lib" / library.name)
            _conda_python(conda, self.python.prefix)
            ctr = self.replayer.exec(
                ctr, [f"{CONDA}/bin/python3", "-m", "ensurepip", "--default-pip"]
            )
            (ctr.root / "tmp/constraints.txt").write_text(constraints)
            ctr = self.replayer.exec(
                ctr, [f"{CONDA}/bin/python3", "-m", "pip", "install", "-r", "/tmp/constraints.txt"]
            )
            (ctr.root / "tmp/constraints.txt").unlink()
            _conda_meta(conda, self.python.version)
            return ctr

        return self._built(name, (debian,), fill)

    def _devel(self, debian: Path, conda: Path) -> Path:
        config = STANDINS["bases"]["devel"]
        tool = self.cuda_toolchain.read_text()
        name = f"devel-{_key(conda.name, config['compilers'], config['cuda'], tool)}"

        def fill(ctr: Ctr) -> Ctr:
            assert self.replayer is not None
            assert ctr.root is not None
            self.log(f"base: {', '.join(config['compilers'])}, CUDA {config['cuda']} wheels")
            apt = ctr.root / "tmp/apt_install.sh"
            apt.write_text(asset_text("programs/apt_install.sh"))
            ctr = self.replayer.exec(ctr, ["sh", "/tmp/apt_install.sh", *config["compilers"]])
            apt.unlink()
            script = ctr.root / "tmp/cuda_toolchain.py"
            script.write_text(tool)
            ctr = self.replayer.exec(
                ctr,
                [
                    f"{CONDA}/bin/python3",
                    "/tmp/cuda_toolchain.py",
                    "--prefix",
                    "/usr/local/cuda",
                    "--cuda",
                    config["cuda"],
                ],
            )
            script.unlink()
            return ctr

        return self._built(name, (debian, conda), fill)


def _conda_python(conda: Path, built_at: Path) -> None:
    """Make a copied CPython work from /opt/conda, as conda relocates its packages.

    conda's binaries carry a DT_RPATH relative to themselves (``$ORIGIN/../lib`` for
    python, ``$ORIGIN/../..`` for its extension modules); a copied build keeps the
    RUNPATH of where it was built, so each is set as conda's (patchelf). The build's prefix in
    its text files (scripts' ``#!`` lines, the sysconfig data that gives extension builds
    Python's headers) becomes /opt/conda, as conda rewrites its packages' prefix.
    """
    old, new = str(built_at).encode(), CONDA.encode()
    version = next((conda / "lib").glob("python3.*")).name
    texts = [
        *(conda / "bin").iterdir(),
        *(conda / "lib" / version).glob("_sysconfigdata*.py"),
        *(conda / "lib" / version).glob("config-*/*"),
        *(conda / "lib" / "pkgconfig").glob("*.pc"),
    ]
    for text in texts:
        if text.is_file() and not text.is_symlink() and not _is_elf(text):
            content = text.read_bytes()
            if old in content:
                text.write_bytes(content.replace(old, new))
    for binary in conda.rglob("*"):
        if not binary.is_file() or binary.is_symlink() or not _is_elf(binary):
            continue
        found = subprocess.run(
            [_patchelf(), "--print-rpath", str(binary)], capture_output=True, text=True
        )
        if str(built_at) in found.stdout:  # as conda-build sets it: relative, DT_RPATH
            lib = os.path.relpath(conda / "lib", binary.parent)
            subprocess.run(
                [_patchelf(), "--force-rpath", "--set-rpath", f"$ORIGIN/{lib}", str(binary)],
                check=True,
            )
    if not (conda / "bin/python").exists():
        (conda / "bin/python").symlink_to("python3")


def _conda_meta(conda: Path, version: str) -> None:
    """A conda prefix's record of what it holds (compare_bases.py reads it): the stand-in Python.

    The packages pip installed (torch and the rest) are in pip's view, as they are where
    the bases install them with conda and pip alike.
    """
    meta = conda / "conda-meta"
    meta.mkdir()
    record = {"name": "python", "version": version, "build": "rehearsal-stand-in"}
    (meta / f"python-{version}-rehearsal-stand-in.json").write_text(json.dumps(record))


def _patchelf() -> str:
    found = shutil.which("patchelf") or shutil.which(
        "patchelf", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise RehearsalError("patchelf is missing: `make install EXTRAS=test,rehearse` brings it")
    return found
