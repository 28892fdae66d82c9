"""Pinned inputs of the images: sources, base images, system packages, paths.

Pure data, no ``dag``; each value's comment says where it comes from.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Final

from egstalker.assets import asset_text
from egstalker.baseimages import BASE_IMAGES


@dataclass(frozen=True)
class GitPin:
    """A public repository fixed at one commit."""

    name: str
    url: str
    commit: str


APP: Final = GitPin(
    "egstalker",
    "https://github.com/ZhuTianheng/EGSTalker",
    "baec57b185737a9c9012cc166baf10f43a41d674",
)
# EGSTalker's .gitmodules names both extensions but its tree holds no gitlinks,
# so they are fetched here at the commits GaussianTalker builds with.
RASTERIZER: Final = GitPin(
    "diff_gaussian_rasterization",
    "https://github.com/joungbinlee/custom-bg-depth-diff-gaussian-rasterization",
    "2d9ce6b09442e6f5b5a0051117d25acef23a930c",
)
SIMPLE_KNN: Final = GitPin(
    "simple_knn",
    "https://github.com/camenduru/simple-knn",
    "44f764299fa305faf6ec5ebd99939e0508331503",
)
# pytorch3d's v0.7.5 tag (2023-10-31), released for torch 2.1; PyPI's pytorch3d is unrelated.
PYTORCH3D: Final = GitPin(
    "pytorch3d",
    "https://github.com/facebookresearch/pytorch3d",
    "2f11ddc5ee7d6bd56f2fb6744a16776fab6536f7",
)

# The Dagger engine and CLI this module is written for (dagger.json's engineVersion).
DAGGER_VERSION: Final = "0.21.11"

# Tags and digests live in data/base-images.toml.
DEVEL_IMAGE: Final = BASE_IMAGES["devel"].ref
RUNTIME_IMAGE: Final = BASE_IMAGES["runtime"].ref

# System packages (Ubuntu 22.04 names), each with the need it serves, in
# data/system-packages.toml: what the builder compiles with, what the app runs with in
# every image, and what only preprocessing adds.
SYSTEM_PACKAGES: Final = tomllib.loads(asset_text("data/system-packages.toml"))
BUILD_APT_PACKAGES: Final = tuple(SYSTEM_PACKAGES["build"]["packages"])
RUNTIME_APT_PACKAGES: Final = tuple(SYSTEM_PACKAGES["runtime"]["packages"])
PREPROCESSING_APT_PACKAGES: Final = tuple(SYSTEM_PACKAGES["preprocessing"]["packages"])
# Commands an image without preprocessing's packages takes from a wheel (render.py's
# ffmpeg from imageio-ffmpeg): command -> file under the conda environment's site-packages.
WHEEL_COMMANDS: Final = dict(SYSTEM_PACKAGES["links"])
# Libraries every image takes from a wheel (open3d's libGL.so.1): soname -> file under the
# conda environment's site-packages, linked where the loader finds it.
WHEEL_LIBRARIES: Final = dict(SYSTEM_PACKAGES["libraries"])


@dataclass(frozen=True)
class RequirementSet:
    """Python requirements installed in one step: the files of data/ resolved together."""

    name: str
    files: tuple[str, ...]
    lock: str  # the data/ file `make lock` writes for this set


# In install order: what training and rendering need, then what only preprocessing adds
# (resolved with the first, so that both agree).
CORE_REQUIREMENTS: Final = RequirementSet("core", ("requirements.txt",), "requirements.lock")
PREPROCESSING_REQUIREMENTS: Final = RequirementSet(
    "preprocessing",
    ("requirements.txt", "requirements-preprocessing.txt"),
    "requirements-preprocessing.lock",
)
# Keep the base's torch and numpy (constraints.txt); constrain the build environments of
# source distributions (build-constraints.txt).
CONSTRAINTS: Final = "constraints.txt"
BUILD_CONSTRAINTS: Final = "build-constraints.txt"
# Every human-edited requirement file; a lock records their digest, in this order.
REQUIREMENT_FILES: Final = (
    "requirements.txt",
    "requirements-preprocessing.txt",
    CONSTRAINTS,
    BUILD_CONSTRAINTS,
)

# Which images carry preprocessing's dependencies (--preprocessing), and the default: the
# single-stage development image preprocesses, the runtime image trains and renders.
PREPROCESSING_CHOICES: Final = ("single-stage", "all", "none")
DEFAULT_PREPROCESSING: Final = "single-stage"
# What the runtime image does when the two bases' conda environments differ
# (--base-mismatch): take the builder's whole environment, or stop.
BASE_MISMATCH_CHOICES: Final = ("copy", "fail")
DEFAULT_BASE_MISMATCH: Final = "copy"

# The app's documented entry points, run with --help by `verify` (downloads blocked):
# training and rendering in every image, preprocessing where it is installed.
APP_HELP_COMMANDS: Final = ("train.py --help", "render.py --help")
PREPROCESSING_HELP_COMMANDS: Final = ("data_utils/process.py --help",)
# The commands the app itself runs (app-contract.json's "commands"), checked the same way:
# render.py muxes its audio with ffmpeg; process.py also runs ffprobe.
APP_TOOL_COMMANDS: Final = ("ffmpeg -version",)
PREPROCESSING_TOOL_COMMANDS: Final = ("ffprobe -version",)

# The runtime image's own user (with --non-root, the default): a home for caches such as
# torch's downloaded VGG weights and wandb's files, and the app folder to write in.
RUNTIME_USER: Final = "egstalker"
RUNTIME_UID: Final = "1000"
RUNTIME_HOME: Final = "/home/egstalker"
# The single-stage image (and the runtime image with --non-root=false) runs as root.
ROOT_HOME: Final = "/root"
# Where, under a user's home, the app's downloads live: the cache roots of
# data/weights.toml (torch: $TORCH_HOME, hf: $HF_HOME, home: $HOME itself). The fourth
# root, "app", is the app's own folder.
HOME_CACHES: Final = {"torch": ".cache/torch", "hf": ".cache/huggingface", "home": ""}

CONDA_DIR: Final = "/opt/conda"
# The bases' Python (3.10) keeps its packages here.
CONDA_SITE_PACKAGES: Final = "/opt/conda/lib/python3.10/site-packages"
# Where commands taken from wheels are linked (before /usr/bin on the bases' PATH).
COMMAND_LINK_DIR: Final = "/usr/local/bin"
# Where libraries taken from wheels are linked: a folder of the loader's default
# configuration (Ubuntu's /etc/ld.so.conf.d/libc.conf), indexed by ldconfig.
LIBRARY_LINK_DIR: Final = "/usr/local/lib"
APP_DIR: Final = "/workspace/egstalker"
# Everything the pipeline itself puts into an image lives under one folder.
PIPELINE_DIR: Final = "/opt/egstalker"
EXTENSIONS_SRC_DIR: Final = "/opt/egstalker/src"
# What was compiled, for which architectures, from which commits: written by the
# builder's architecture check, read by the probe.
MANIFEST: Final = "/opt/egstalker/manifest.json"
# The builder runs as root; its caches are cache volumes mounted in root's home.
UV_CACHE_DIR: Final = f"{ROOT_HOME}/.cache/uv"
CCACHE_DIR: Final = f"{ROOT_HOME}/.cache/ccache"
# Cache volumes are named after what invalidates them: the base images' Python and CUDA,
# and the compilers (CUDA 11.8's nvcc, Ubuntu 22.04's gcc 11).
UV_CACHE_VOLUME: Final = "egstalker-uv-py310-cu118"
# uv installs the builder's Python dependencies; it is a build tool: mounted at this path
# (on the bases' PATH) for the installs only, from its hash-pinned wheel
# (data/build-tools.txt), so that no image holds it.
UV_PATH: Final = "/usr/local/bin/uv"
BUILD_TOOLS: Final = "build-tools.txt"
CCACHE_VOLUME: Final = "egstalker-ccache-cu118-gcc11"

# Left out of the app tree copied into the images: VCS data, demo videos, debug dumps.
APP_EXCLUDE: Final = (
    ".git",
    "result-video",
    "snapshot_fw.dump",
    "**/__pycache__",
    "**/*.pyc",
)
# Stale prebuilt objects some extension repositories commit.
EXTENSION_EXCLUDE: Final = ("**/*.so", "**/__pycache__", "build", "*.egg-info")
