"""A synthetic CUDA workload with the shape of EGSTalker's rasterizer, for the benchmarks.

The rasterizer is three heavy .cu files (forward, backward, the binning of tiles) and two
light ones, whose templated device code makes nvcc slow. ``write_workload`` writes files
of that shape; ``scale`` multiplies the template instantiations (compile time grows about
linearly with it): at 2.4 one architecture takes about 65 s on a 2-core, 24 GB machine,
close to the real rasterizer's minute.
"""

from __future__ import annotations

from pathlib import Path

HEAVY_FILE = """
#include <cuda_runtime.h>

template <int CHANNELS, int STEPS>
__device__ __forceinline__ void shade(const float* in, float* out, int i) {{
    float acc[CHANNELS];
#pragma unroll
    for (int c = 0; c < CHANNELS; ++c) acc[c] = in[i * CHANNELS + c];
#pragma unroll
    for (int s = 0; s < STEPS; ++s) {{
#pragma unroll
        for (int c = 0; c < CHANNELS; ++c) {{
            float g = __expf(-0.5f * acc[c] * acc[c]) * rsqrtf(1.0f + acc[(c + 1) % CHANNELS]);
            acc[c] = fmaf(g, sinf(acc[c] + s), acc[(c + 2) % CHANNELS] * 0.25f);
        }}
    }}
#pragma unroll
    for (int c = 0; c < CHANNELS; ++c) out[i * CHANNELS + c] = acc[c];
}}

template <int CHANNELS, int STEPS>
__global__ void render_{tag}(const float* in, float* out, int n) {{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) shade<CHANNELS, STEPS>(in, out, i);
}}

{instantiations}
"""

LIGHT_FILE = """
__global__ void mark_{tag}(const float* in, int* out, int n) {{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i] > 0.0f;
}}
"""

HEAVY = ("forward", "backward", "binning")
LIGHT = ("points", "ext")


def instantiations(tag: str, scale: float) -> str:
    count = max(1, round(12 * scale))
    return "\n".join(
        f"template __global__ void render_{tag}<{3 + k % 6}, {8 + k}>(const float*, float*, int);"
        for k in range(count)
    )


def write_workload(folder: Path, scale: float = 1.0) -> list[Path]:
    """Write the five files; returns their paths, heaviest first."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for tag in HEAVY:
        path = folder / f"{tag}.cu"
        path.write_text(HEAVY_FILE.format(tag=tag, instantiations=instantiations(tag, scale)))
        files.append(path)
    for tag in LIGHT:
        path = folder / f"{tag}.cu"
        path.write_text(LIGHT_FILE.format(tag=tag))
        files.append(path)
    return files
