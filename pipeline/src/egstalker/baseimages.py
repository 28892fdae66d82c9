"""The base images as data (data/base-images.toml): tags, and the digests that pin them."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

from egstalker.assets import asset_text

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
HEADER = """\
# The base images: the tag people read, and the digest that pins what is pulled.
# `make pin-bases` writes this file from the tags' current digests (it needs a Dagger
# engine that reaches Docker Hub). An empty digest pulls whatever the tag names today.
"""


@dataclass(frozen=True)
class BaseImage:
    tag: str
    digest: str = ""

    @property
    def ref(self) -> str:
        """What is pulled: ``tag@digest`` when pinned, else the tag."""
        return f"{self.tag}@{self.digest}" if self.digest else self.tag


def parse(text: str) -> dict[str, BaseImage]:
    images = {}
    for role, entry in tomllib.loads(text).items():
        digest = entry.get("digest", "")
        if digest and not DIGEST.fullmatch(digest):
            raise ValueError(f"base-images.toml: {role} digest {digest!r} is not sha256:<64 hex>")
        images[role] = BaseImage(entry["tag"], digest)
    return images


def render(images: dict[str, BaseImage]) -> str:
    blocks = [f'[{role}]\ntag = "{i.tag}"\ndigest = "{i.digest}"\n' for role, i in images.items()]
    return HEADER + "\n".join(blocks)


def digest_of(image_ref: str) -> str:
    """The digest in a resolved reference such as ``docker.io/a/b:tag@sha256:...``."""
    match = DIGEST.search(image_ref.rpartition("@")[2])
    if match is None:
        raise ValueError(f"no sha256 digest in the resolved reference {image_ref!r}")
    return match[0]


BASE_IMAGES = parse(asset_text("data/base-images.toml"))
