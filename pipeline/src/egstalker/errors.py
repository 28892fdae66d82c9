"""The one error type for user mistakes, raised before any engine work."""

from __future__ import annotations


class InvalidOption(ValueError):
    """An option value the pipeline refuses, with what is allowed instead."""

    def __init__(self, option: str, value: object, allowed: str) -> None:
        self.option = option
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {option} {value!r}: {allowed}")
