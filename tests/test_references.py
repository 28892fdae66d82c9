"""Image references by the registries' grammar: cases from distribution/reference's own tests.

The inputs and verdicts below are those of TestReferenceParse (reference_test.go in
github.com/distribution/reference); the one difference is the name's length, which is
counted here with its registry host, as the OCI distribution spec says many clients do.
"""

from __future__ import annotations

import pytest

from egstalker.references import NAME_MAX, Reference, parse

F64 = "f" * 64

ACCEPTED = {
    "test_com": Reference("test_com", None, None),
    "test.com:tag": Reference("test.com", "tag", None),
    "test.com:5000": Reference("test.com", "5000", None),
    "test:5000/repo:tag": Reference("test:5000/repo", "tag", None),
    "lowercase:Uppercase": Reference("lowercase", "Uppercase", None),
    "sub-dom1.foo.com/bar/baz/quux": Reference("sub-dom1.foo.com/bar/baz/quux", None, None),
    "192.168.1.1:5000/repo:5050": Reference("192.168.1.1:5000/repo", "5050", None),
    "[2001:db8::1]/repo": Reference("[2001:db8::1]/repo", None, None),
    "[::1]:5000/repo": Reference("[::1]:5000/repo", None, None),
    "a/" * 127 + "a:over-max": Reference("a/" * 127 + "a", "over-max", None),  # 255: the most
    f"test.com/repo@sha256:{F64}": Reference("test.com/repo", None, f"sha256:{F64}"),
    f"test:5000/repo:tag@sha256:{F64}": Reference("test:5000/repo", "tag", f"sha256:{F64}"),
}  # fmt: skip

REFUSED = [
    "",
    ":justtag",
    f"@sha256:{F64}",
    "repo@sha256:" + "f" * 34,  # digest of the wrong length
    f"validname@invaliddigest:{F64}",  # an algorithm go-digest does not know
    "Uppercase:tag",
    "test:5000/Uppercase/lowercase:tag",
    "domain/" + "a" * 256 + ":tag",  # too long a name
    "aa/asdf$$^/aa",
    "[2001:db8::1]",
    "[2001:db8::1]:5000",
    "[2001:db8::1]:tag",
    "[fe80::1%eth0]:5000/repo",  # zone identifiers are excluded
    "repo:" + "t" * 129,  # tags hold at most 128 characters
    "repo:-tag",
    "repo:t\u0430g",  # a Cyrillic letter: Go's \w is ASCII only
]


@pytest.mark.parametrize(("value", "parts"), ACCEPTED.items())
def test_accepted(value: str, parts: Reference) -> None:
    assert parse(value) == parts


@pytest.mark.parametrize("value", REFUSED)
def test_refused_with_the_reason(value: str) -> None:
    assert isinstance(parse(value), str)


def test_the_length_limits_are_the_registries() -> None:
    name = "r.io/" + "a" * (NAME_MAX - len("r.io/"))
    assert parse(f"{name}:{'t' * 128}") == Reference(name, "t" * 128, None)
    assert (
        parse(f"{name}a") == f"its name is {NAME_MAX + 1} characters; registries take at most 255"
    )
    assert parse("r:" + "t" * 129) == "its tag is 129 characters; registries take at most 128"
