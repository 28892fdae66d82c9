"""Reading the verifications' results: pure, engine-free."""

from __future__ import annotations

import json
import signal
from collections.abc import Sequence
from typing import Final

from egstalker.errors import InvalidOption
from egstalker.failures import ran

VARIANTS: Final = ("single-stage", "multistage")
TAIL_LINES: Final = 20

# What a probe killed by a signal most often means, and what to do about it.
SIGNAL_MEANINGS: Final = {
    signal.SIGKILL: "killed, most often by the out-of-memory killer: give the engine (or the "
    "container) more memory",
    signal.SIGSEGV: "a segmentation fault in compiled code, most often an extension built "
    "against another torch or CUDA than the image holds, or a driver and library mismatch",
    signal.SIGABRT: "aborted by a native library: a C++ exception or a failed assertion, whose "
    "message is in the output below",
    signal.SIGBUS: "a bus error, most often too little shared memory (/dev/shm)",
    signal.SIGILL: "an illegal instruction: code built for a newer CPU than the engine's",
    signal.SIGTERM: "terminated from outside, by a timeout or a stop",
}


class VerificationFailed(Exception):
    """An image failed its verification; the message says which checks and why."""


def check_variant(value: str) -> str:
    if value not in VARIANTS:
        raise InvalidOption("variant", value, f"use one of {', '.join(VARIANTS)}")
    return value


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])


def killed_by(exit_code: int) -> signal.Signals | None:
    """The signal an exit code of 128+N reports, if it names one."""
    try:
        return signal.Signals(exit_code - 128) if exit_code > 128 else None
    except ValueError:
        return None


def verdict(variant: str, exit_code: int, stdout: str, stderr: str) -> str:
    """The probe's JSON report when it passed; ``VerificationFailed`` saying why otherwise."""
    try:
        report = json.loads(stdout)
    except ValueError:
        tail = _tail(stderr or stdout)
        if sig := killed_by(exit_code):
            meaning = SIGNAL_MEANINGS.get(sig, "killed by a signal")
            raise VerificationFailed(
                f"{variant}: the probe was killed by {sig.name} (exit code {exit_code}): "
                f"{meaning}\n{tail}".rstrip()
            ) from None
        raise VerificationFailed(
            f"{variant}: the probe exited with {exit_code} without a report:\n{tail}"
        ) from None
    failed = [c for c in report.get("checks", []) if c.get("status") == "failed"]
    if exit_code == 0 and report.get("ok") and not failed:
        return stdout
    reasons = "\n".join(f"  - {c['name']}: {c['detail']}" for c in failed) or f"  exit {exit_code}"
    raise VerificationFailed(f"{variant} image failed verification:\n{reasons}")


def hygiene_verdict(command: Sequence[str], stdout: str) -> VerificationFailed | None:
    """The runtime hygiene program's own failure, as a verdict; None for any other step.

    A step before it (a compile, an apt install) keeps its own name and hint.
    """
    if not ran(command, "check_runtime.py"):
        return None
    return VerificationFailed(
        f"multistage image failed the runtime hygiene check:\n{stdout.strip()}"
    )
