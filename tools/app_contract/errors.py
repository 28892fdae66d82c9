"""The one error type for bad inputs."""

from __future__ import annotations


class ContractError(Exception):
    """A bad input: the message names the value and what is allowed."""
