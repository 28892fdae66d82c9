from __future__ import annotations

import pytest

from egstalker import Egstalker
from egstalker.errors import InvalidOption
from egstalker.registry import check_credentials, publish_refs, registry_host


def test_refs_per_variant() -> None:
    assert publish_refs("ghcr.io/me/egstalker", "1.0") == {
        "multistage": "ghcr.io/me/egstalker:1.0",
        "single-stage": "ghcr.io/me/egstalker:1.0-single-stage",
    }


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("ghcr.io/me/egstalker", "ghcr.io"),
        ("localhost:5000/egstalker", "localhost:5000"),
        ("registry.example.com:443/a/b", "registry.example.com:443"),
        ("me/egstalker", "docker.io"),
        ("egstalker", "docker.io"),
    ],
)
def test_registry_host(address: str, host: str) -> None:
    assert registry_host(address) == host


@pytest.mark.parametrize(
    ("address", "tag", "says"),
    [
        ("ghcr.io/me/egstalker:1.0", "1.0", "without tag or digest"),
        ("ghcr.io/me/egstalker@sha256:" + "a" * 64, "1.0", "without tag or digest"),
        ("Not A Repo", "1.0", "invalid address"),
        ("ghcr.io/me/egstalker", "-bad", "invalid tag '-bad'"),
        ("ghcr.io/me/egstalker", "a;rm -rf /", "invalid tag"),
        ("ghcr.io/me/egstalker", "", "invalid tag ''"),
    ],
)
def test_bad_addresses_and_tags(address: str, tag: str, says: str) -> None:
    with pytest.raises(InvalidOption, match=says):
        publish_refs(address, tag)


def test_credentials_come_in_pairs() -> None:
    check_credentials(None, has_password=False)
    check_credentials("me", has_password=True)
    with pytest.raises(InvalidOption, match="username without password"):
        check_credentials("me", has_password=False)
    with pytest.raises(InvalidOption, match="password without username"):
        check_credentials(None, has_password=True)


@pytest.mark.anyio
async def test_publish_refuses_bad_input_before_any_push() -> None:
    egs = await Egstalker.create()
    with pytest.raises(InvalidOption, match="without tag or digest"):
        await egs.publish("ghcr.io/me/egstalker:latest")
    with pytest.raises(InvalidOption, match="username without password"):
        await egs.publish("ghcr.io/me/egstalker", username="me")
