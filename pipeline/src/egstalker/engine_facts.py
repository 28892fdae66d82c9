"""What the module asks the engine before it builds: the checkout's shape, the engine's GPUs.

Each answer needs an engine; what is done with it is pure (``options``, ``archs``).
"""

from __future__ import annotations

import re

import dagger
from dagger import dag

from egstalker import steps
from egstalker.archs import AUTO, DetectedGpus, detected_gpus
from egstalker.errors import InvalidOption

# The engine's refusal of a GPU exec when it was started without GPU support.
GPU_SUPPORT_OFF = re.compile(r"GPU support is not enabled")
NO_GPU_SUPPORT = (
    "the engine has no GPU support: start dagger with _EXPERIMENTAL_DAGGER_GPU_SUPPORT=1 (any "
    "value; the host needs the NVIDIA driver and Container Toolkit) for every command, or "
    "name the architectures (--arch 9.0, --arch h100)"
)
# Directory.exists follows links within the tree's own root (Dagger 0.21, core/directory.go
# Stat, containerd's fs.RootPath): as options.kind_in_tree does for the CLI.
EXISTS_TYPES = {
    "file": dagger.ExistsType.REGULAR_TYPE,
    "directory": dagger.ExistsType.DIRECTORY_TYPE,
}


async def has(tree: dagger.Directory, name: str, kind: str) -> bool:
    """Whether ``name`` in ``tree`` is a ``kind`` (options.APP_SHAPE), links followed."""
    return await tree.exists(name, expected_type=EXISTS_TYPES[kind])


async def engine_gpus(image: str) -> DetectedGpus:
    """The GPUs of the engine that runs this call, asked in a container of ``image``.

    Without GPU support the engine refuses the exec before it runs (Dagger 0.21,
    core/container_exec.go): that is said at once, with the fix. The query has a per-call
    input; the constructor's own result is kept for one session only, as dagger.json's
    ``disableDefaultFunctionCaching`` makes every default-cached function per-session
    (core/typedef.go derivedCachePolicy, core/schema/modulesource.go).
    """
    try:
        report = await dag.container().from_(image).with_(steps.gpu_query).stdout()
    except dagger.ExecError as failed:  # gpu_archs.py: no GPU listed, and why
        raise InvalidOption("architecture list", AUTO, failed.stderr.strip()) from None
    except dagger.QueryError as failed:
        if not GPU_SUPPORT_OFF.search(str(failed)):
            raise
        raise InvalidOption("architecture list", AUTO, NO_GPU_SUPPORT) from None
    return detected_gpus(report)
