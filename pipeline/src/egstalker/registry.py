"""Where the images are published: refs and credentials, checked before any push. No ``dag``."""

from __future__ import annotations

import re
from typing import Final

from egstalker.errors import InvalidOption, shown
from egstalker.options import check_image_ref

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DOCKER_HUB: Final = "docker.io"


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
    if not _TAG.fullmatch(tag):
        raise InvalidOption(
            "tag",
            tag,
            "use letters, digits, '_', '.' and '-', at most 128, not starting with . or -",
        )
    return tag


def publish_refs(address: str, tag: str) -> dict[str, str]:
    """The runtime image gets TAG; the single-stage image gets TAG-single-stage."""
    repository, tag = check_repository(address), check_tag(tag)
    return {"multistage": f"{repository}:{tag}", "single-stage": f"{repository}:{tag}-single-stage"}


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
