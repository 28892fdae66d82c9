from __future__ import annotations

import pytest

from egstalker.archs import (
    CUDA_11_8_ARCHS,
    GPUS,
    NEWER_TARGETS,
    PRESETS,
    gpu_names,
    resolve_arch_list,
    torch_runs_on,
)
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
        ("3.7", "3.7"),  # torch 2.1.2's oldest target
        ("5.2", "5.2"),  # runs torch's sm_50 code
    ],
)
def test_accepts_what_torch_and_cuda_11_8_accept(typed: str, arch_list: str) -> None:
    assert resolve_arch_list(typed) == arch_list


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("86", "write 8.6 instead of '86'"),
        ("sm_86", "write 8.6 instead of 'sm_86'"),
        ("compute_90", "write 9.0 instead of 'compute_90'"),
        ("sm_90a", "write 9.0a instead of 'sm_90a'"),
        ("8.6;;", "empty entry"),
        (";8.6", "empty entry"),
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("3.0", "3.0 is not a CUDA 11.8 target"),
        ("8.x", "'8.x' is not understood"),
        ("8.6+ptx", "'8.6+ptx' is not understood"),
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


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("9.0a", "'9.0a' (Hopper's arch-specific wgmma and TMA) needs CUDA 12.0 or newer"),
        ("10.0", "'10.0' (Blackwell B100/B200) needs CUDA 12.8 or newer"),
        ("b200", "'b200' (10.0, Blackwell B100/B200) needs CUDA 12.8 or newer"),
        ("gb300", "'gb300' (10.3, Blackwell Ultra B300) needs CUDA 12.9 or newer"),
        ("RTX5090", "'RTX5090' (12.0, Blackwell RTX 50 series and RTX PRO 6000) needs CUDA 12.8"),
        ("12.0+PTX", "'12.0+PTX' (Blackwell RTX 50 series and RTX PRO 6000) needs CUDA 12.8"),
        ("8.6;h100;b200", "'b200' (10.0, Blackwell B100/B200) needs CUDA 12.8 or newer"),
    ],
)
def test_gpus_that_need_a_newer_cuda_say_which(typed: str, says: str) -> None:
    with pytest.raises(InvalidOption) as err:
        resolve_arch_list(typed)
    assert says in str(err.value)
    assert "the base images have CUDA 11.8" in str(err.value)


def test_targets_torch_itself_cannot_run_on_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidOption) as err:
        resolve_arch_list("3.5")  # Kepler K40: CUDA 11.8 compiles for it, torch has no sm_35
    assert "torch 2.1.2 has no kernels for it (its oldest is sm_37)" in str(err.value)
    assert "3.5," not in str(err.value).split("support (")[1]  # not offered as allowed


def test_every_cuda_11_8_target_but_kepler_k40_runs_torch() -> None:
    assert [c for c in CUDA_11_8_ARCHS if not torch_runs_on(c)] == ["3.5"]


def test_newer_targets_are_not_cuda_11_8_targets() -> None:
    for newer in NEWER_TARGETS:
        assert newer.target not in CUDA_11_8_ARCHS
        assert float(newer.cuda) > 11.8


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("\uff18.\uff16", r"'\uff18.\uff16'"),  # fullwidth digits that look like 8.6
        ("8.6\u0436", r"'8.6\u0436'"),  # a Cyrillic letter after a valid value
        ("a1\u043e0", r"'a1\u043e0'"),  # Cyrillic o in a GPU name
    ],
)
def test_lookalike_characters_are_shown_escaped(typed: str, shown: str) -> None:
    with pytest.raises(InvalidOption) as err:
        resolve_arch_list(typed)
    assert str(err.value).startswith(f"invalid architecture list {shown}: ")
    assert str(err.value).isascii()
