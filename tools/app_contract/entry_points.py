"""The app's entry points: the scripts its README runs, and the part of the app each is."""

from __future__ import annotations

from dataclasses import dataclass

CORE, PREPROCESSING = "core", "preprocessing"


@dataclass(frozen=True)
class EntryPoint:
    """A script the app's README (or the app itself) runs, and the part it belongs to."""

    name: str
    part: str
    script: str


# EGSTalker's documented entry points, run from the app folder with scene/KAN on PYTHONPATH.
# render.py also covers inference (--custom_aud): the same script and imports.
DEFAULT_ENTRY_POINTS = (
    EntryPoint("train", CORE, "train.py"),
    EntryPoint("render", CORE, "render.py"),
    EntryPoint("process", PREPROCESSING, "data_utils/process.py"),
    EntryPoint(
        "deepspeech", PREPROCESSING, "data_utils/deepspeech_features/extract_ds_features.py"
    ),
    EntryPoint("face-parsing", PREPROCESSING, "data_utils/face_parsing/test.py"),
    EntryPoint("face-tracking", PREPROCESSING, "data_utils/face_tracking/face_tracker.py"),
    EntryPoint("convert-bfm", PREPROCESSING, "data_utils/face_tracking/convert_BFM.py"),
    EntryPoint("wav2vec", PREPROCESSING, "data_utils/wav2vec.py"),
    EntryPoint("wav2vec2", PREPROCESSING, "data_utils/wav2vec2.py"),
    EntryPoint("hubert", PREPROCESSING, "data_utils/hubert.py"),
    # evaluation: face-alignment (+ numba, llvmlite) and its weights, as preprocessing has
    EntryPoint("metrics", PREPROCESSING, "metrics.py"),
)
DEFAULT_PYTHONPATH = ("scene/KAN",)
