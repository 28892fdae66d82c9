"""Image references by the registries' own rules: pure, no ``dag``.

The grammar is the OCI distribution one, as github.com/distribution/reference writes it
(regexp.go: ``domainAndPort``, ``remoteName``, ``tag``; reference.go: a repository name
of at most 255 characters). A digest names an algorithm go-digest knows, with its exact
length. A reference the engine or a registry would refuse is refused here, before any
build, naming what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

NAME_MAX: Final = 255  # reference.go RepositoryNameTotalLengthMax
TAG_MAX: Final = 128  # regexp.go tag: [\w][\w.-]{0,127}

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_PATH = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
TAG_PATTERN: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"  # Go's \w is ASCII only
# go-digest's algorithms, each with its hex length
_DIGEST = r"sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH})(?::(?P<tag>{TAG_PATTERN}))?(?:@(?P<digest>{_DIGEST}))?"
)
_TAG = re.compile(TAG_PATTERN)


@dataclass(frozen=True)
class Reference:
    name: str
    tag: str | None
    digest: str | None


def parse(value: str) -> Reference | str:
    """The reference's parts, or why it is not one (a phrase for an error message)."""
    match = _REFERENCE.fullmatch(value) if value.isascii() else None
    if match is None:
        return "it is not an image reference"
    reference = Reference(match["name"], match["tag"], match["digest"])
    if len(reference.name) > NAME_MAX:
        return f"its name is {len(reference.name)} characters; registries take at most {NAME_MAX}"
    if reference.tag is not None and (problem := tag_problem(reference.tag)):
        return problem
    return reference


def tag_problem(tag: str) -> str | None:
    """Why a tag is refused, or None."""
    if not (tag.isascii() and _TAG.fullmatch(tag)):
        return (
            f"a tag holds letters, digits, '_', '.' and '-', at most {TAG_MAX}, and does not "
            "start with '.' or '-'"
        )
    if len(tag) > TAG_MAX:
        return f"its tag is {len(tag)} characters; registries take at most {TAG_MAX}"
    return None
