from __future__ import annotations

import pytest

from egstalker.archs import GPUS, PRESETS, gpu_names, resolve_arch_list
from egstalker.errors import InvalidOption


@pytest.mark.parametrize(
    ("typed", "arch_list"),
    [
        ("8.6", "8.6"),
        ("8.0;8.6", "8.0;8.6"),
        ("8.6 8.0", "8.0;8.6"),  # torch accepts spaces; we sort
        ("8.6+PTX", "8.6+PTX"),
        ("8.6;8.6+PTX", "8.6+PTX"),  # the same capability twice keeps the PTX
        ("a10", "8.6"),
        ("A100,a10", "8.0;8.6"),
        ("a100, a10", "8.0;8.6"),
        ("h100", "9.0"),
        ("t4;9.0", "7.5;9.0"),
        ("portable", "7.5;8.0;8.6;8.9;9.0"),
        ("  8.9  ", "8.9"),
        ("3.5", "3.5"),
    ],
)
def test_accepts_what_torch_and_cuda_11_8_accept(typed: str, arch_list: str) -> None:
    assert resolve_arch_list(typed) == arch_list


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("86", "write 8.6 instead of 86"),
        ("sm_86", "write 8.6 instead of sm_86"),
        ("compute_90", "write 9.0 instead of compute_90"),
        ("8.6;;", "empty entry"),
        (";8.6", "empty entry"),
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("9.0a", "no arch-specific 'a' targets"),
        ("10.0", "10.0 is not a CUDA 11.8 target"),
        ("12.0", "12.0 is not a CUDA 11.8 target"),
        ("8.x", "'8.x' is not understood"),
        ("8.6+ptx", "'8.6+ptx' is not understood"),
        ("b200", "'b200' is not understood"),
        ("Ampere", "'Ampere' is not understood"),
        ("8.6; rm -rf /", "'rm' is not understood"),
    ],
)
def test_refuses_with_the_value_and_what_is_allowed(typed: str, says: str) -> None:
    with pytest.raises(InvalidOption) as err:
        resolve_arch_list(typed)
    message = str(err.value)
    assert message.startswith(f"invalid architecture list {typed!r}")
    assert says in message
    for allowed in ("8.6", "a10", "portable"):  # what is allowed
        assert allowed in message


def test_every_gpu_and_preset_resolves_to_a_cuda_11_8_list() -> None:
    for gpu in GPUS:
        for name in gpu.names:
            assert resolve_arch_list(name) == gpu.capability
    for name, value in PRESETS.items():
        assert resolve_arch_list(name) == value


def test_gpu_table_matches_known_devices() -> None:
    assert resolve_arch_list("a10") == "8.6"  # the default target
    assert gpu_names("9.0") == ("h100", "h200")
    assert gpu_names("8.0") == ("a100", "a30")
    assert gpu_names("6.1") == ()
