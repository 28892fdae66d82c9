"""The one error type for user mistakes, raised before any engine work."""

from __future__ import annotations

SHOWN_CHARACTERS = 160  # a long path still shows whole


def shown(value: object) -> str:
    """A value as an error message quotes it: escaped, cut short when very long.

    ``ascii`` escapes every character outside ASCII, so a lookalike (a Cyrillic letter, a
    fullwidth digit) shows as what it is, ``'8.\\uff16'``, not as the ``'8.6'`` it imitates.
    """
    text = ascii(value)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return f"{text[:SHOWN_CHARACTERS]}... ({len(str(value))} characters)"


class InvalidOption(ValueError):
    """An option value the pipeline refuses, with what is allowed instead."""

    def __init__(self, option: str, value: object, allowed: str) -> None:
        self.option = option
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {option} {shown(value)}: {allowed}")
