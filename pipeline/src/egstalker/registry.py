"""Where the images are published: refs and credentials, checked before any push. No ``dag``."""

from __future__ import annotations

import re
from typing import Final

from egstalker import references
from egstalker.errors import InvalidOption, shown
from egstalker.options import check_image_ref

DOCKER_HUB: Final = "docker.io"
# What the single-stage image's tag adds to the one given (TAG-single-stage).
SINGLE_STAGE_SUFFIX: Final = "-single-stage"
# What HTTP basic auth cannot carry in a user-id (RFC 7617 section 2): ':' and controls.
_NOT_IN_USERNAME = re.compile(r"[:\x00-\x1f\x7f]")


def check_repository(address: str) -> str:
    """A lowercase repository without tag or digest: the variants' tags are added to it."""
    lowered = address.lower() if address.isascii() else address  # no lookalike suggested
    try:
        check_image_ref("address", lowered)
    except InvalidOption:
        check_image_ref("address", address)  # the same fault, naming the value as given
        raise
    last = address.rsplit("/", 1)[-1]
    if ":" in last or "@" in address:
        raise InvalidOption(
            "address", address, "give the repository without tag or digest (use --tag for the tag)"
        )
    if lowered != address:
        # GHCR and Docker Hub refuse capitals; GitHub keeps an owner's name as written.
        raise InvalidOption(
            "address", address, f"repository names must be lowercase: use {shown(lowered)}"
        )
    return address


def check_tag(tag: str) -> str:
    """A tag that both images can carry: TAG, and TAG-single-stage within the length limit."""
    if problem := references.tag_problem(tag):
        raise InvalidOption("tag", tag, problem)
    longest = references.TAG_MAX - len(SINGLE_STAGE_SUFFIX)
    if len(tag) > longest:
        raise InvalidOption(
            "tag",
            tag,
            f"the single-stage image's tag, TAG{SINGLE_STAGE_SUFFIX}, would be "
            f"{len(tag) + len(SINGLE_STAGE_SUFFIX)} characters; registries take at most "
            f"{references.TAG_MAX}: use a tag of at most {longest}",
        )
    return tag


def publish_refs(address: str, tag: str) -> dict[str, str]:
    """The runtime image gets TAG; the single-stage image gets TAG-single-stage.

    Each reference the push will use is checked whole, by the registries' grammar.
    """
    repository, tag = check_repository(address), check_tag(tag)
    refs = {
        "multistage": f"{repository}:{tag}",
        "single-stage": f"{repository}:{tag}{SINGLE_STAGE_SUFFIX}",
    }
    for ref in refs.values():
        check_image_ref("address", ref)
    return refs


def registry_host(address: str) -> str:
    """The registry part of a repository address; Docker Hub when it names none."""
    first, _, rest = address.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def check_credentials(username: str | None, has_password: bool) -> None:
    if bool(username) != has_password:
        raise InvalidOption(
            "credentials",
            "username without password" if username else "password without username",
            "give both --username and --password (a secret, e.g. env:REGISTRY_TOKEN), or neither",
        )
    if username and (bad := _NOT_IN_USERNAME.search(username)):
        raise InvalidOption(
            "username",
            username,
            f"it holds {shown(bad[0])}, which HTTP basic auth cannot carry in a user name: "
            "no ':' and no control characters",
        )
