from __future__ import annotations

import pytest

from egstalker import Egstalker
from egstalker.errors import InvalidOption
from egstalker.registry import (
    check_credentials,
    check_repository,
    publish_refs,
    registry_host,
)


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


@pytest.mark.parametrize(
    ("address", "use"),
    [
        ("ghcr.io/ZhuTianheng/EGSTalker", "ghcr.io/zhutianheng/egstalker"),
        ("Me/egstalker", "me/egstalker"),
        ("GHCR.IO/me/egstalker", "ghcr.io/me/egstalker"),
    ],
)
def test_capitals_are_refused_with_the_lowercase_address(address: str, use: str) -> None:
    with pytest.raises(InvalidOption) as err:
        publish_refs(address, "1.0")
    assert str(err.value) == (
        f"invalid address '{address}': repository names must be lowercase: use '{use}'"
    )
    assert publish_refs(use, "1.0")["multistage"] == f"{use}:1.0"  # the advice works


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("ghcr.io/Me/egstalker:Latest", "without tag or digest"),  # the tag is said first
        ("ghcr.io/me/\u212aelvin", "use an image reference like"),  # no lookalike advised
        ("Not A Repo", "use an image reference like"),
    ],
)
def test_other_faults_are_not_called_capitals(address: str, says: str) -> None:
    with pytest.raises(InvalidOption, match=says) as err:
        check_repository(address)
    assert "lowercase" not in str(err.value)


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
    with pytest.raises(InvalidOption, match=r"must be lowercase: use 'ghcr\.io/me/egstalker'"):
        await egs.publish("ghcr.io/Me/EGStalker")


def test_every_reference_the_push_uses_is_within_the_limits() -> None:
    """TAG-single-stage is a tag too: 13 characters longer than the one given."""
    assert len(publish_refs("ghcr.io/me/x", "t" * 115)["single-stage"].split(":")[-1]) == 128
    with pytest.raises(InvalidOption) as err:
        publish_refs("ghcr.io/me/x", "t" * 116)
    assert "TAG-single-stage, would be 129 characters" in str(err.value)
    assert "use a tag of at most 115" in str(err.value)
    with pytest.raises(InvalidOption, match="registries take at most 255"):
        publish_refs("ghcr.io/" + "a" * 250, "1.0")


@pytest.mark.parametrize("username", ["me:you", "me\nyou", "me\x00", "\x7f", "tab\there"])
def test_a_username_basic_auth_cannot_carry_is_refused(username: str) -> None:
    with pytest.raises(InvalidOption, match=r"invalid username .*HTTP basic auth cannot carry"):
        check_credentials(username, has_password=True)


@pytest.mark.parametrize("username", ["me", "me@example.com", "my-bot+ci", "\u00e9lodie"])
def test_usernames_basic_auth_carries_pass(username: str) -> None:
    check_credentials(username, has_password=True)
