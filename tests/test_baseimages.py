from __future__ import annotations

import pytest

from egstalker import pins
from egstalker.baseimages import BASE_IMAGES, BaseImage, digest_of, parse, render
from egstalker.options import check_image_ref

DIGEST = "sha256:" + "ab" * 32


def test_committed_file_names_the_pytorch_bases() -> None:
    assert BASE_IMAGES["devel"].tag == "pytorch/pytorch:2.1.2-cuda11.8-cudnn8-devel"
    assert BASE_IMAGES["runtime"].tag == "pytorch/pytorch:2.1.2-cuda11.8-cudnn8-runtime"
    assert BASE_IMAGES["devel"].ref == pins.DEVEL_IMAGE
    check_image_ref("devel-image", pins.DEVEL_IMAGE)


def test_a_digest_pins_the_reference() -> None:
    image = BaseImage("pytorch/pytorch:2.1.2-cuda11.8-cudnn8-runtime", DIGEST)
    assert image.ref == f"pytorch/pytorch:2.1.2-cuda11.8-cudnn8-runtime@{DIGEST}"
    check_image_ref("runtime-image", image.ref)
    assert BaseImage("ubuntu:22.04").ref == "ubuntu:22.04"


def test_render_and_parse_round_trip() -> None:
    images = {"devel": BaseImage("a/b:1", DIGEST), "runtime": BaseImage("a/c:1")}
    assert parse(render(images)) == images


def test_malformed_digests_are_refused() -> None:
    with pytest.raises(ValueError, match="is not sha256:<64 hex>"):
        parse('[devel]\ntag = "a:1"\ndigest = "sha256:xyz"\n')


def test_digest_of_a_resolved_reference() -> None:
    assert digest_of(f"docker.io/pytorch/pytorch:2.1.2-cuda11.8-cudnn8-devel@{DIGEST}") == DIGEST
    with pytest.raises(ValueError, match="no sha256 digest"):
        digest_of("docker.io/pytorch/pytorch:latest")
