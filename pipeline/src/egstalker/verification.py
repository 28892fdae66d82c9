"""Reading the probe's verdict: pure, engine-free."""

from __future__ import annotations

import json
from typing import Final

from egstalker.errors import InvalidOption

VARIANTS: Final = ("single-stage", "multistage")


class VerificationFailed(Exception):
    """An image failed its verification; the message says which checks and why."""


def check_variant(value: str) -> str:
    if value not in VARIANTS:
        raise InvalidOption("variant", value, f"use one of {', '.join(VARIANTS)}")
    return value


def verdict(variant: str, exit_code: int, stdout: str, stderr: str) -> str:
    """The probe's JSON report when it passed; ``VerificationFailed`` saying why otherwise."""
    try:
        report = json.loads(stdout)
    except ValueError:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-20:])
        raise VerificationFailed(
            f"{variant}: the probe exited with {exit_code} without a report:\n{tail}"
        ) from None
    failed = [c for c in report.get("checks", []) if c.get("status") == "failed"]
    if exit_code == 0 and report.get("ok") and not failed:
        return stdout
    reasons = "\n".join(f"  - {c['name']}: {c['detail']}" for c in failed) or f"  exit {exit_code}"
    raise VerificationFailed(f"{variant} image failed verification:\n{reasons}")
