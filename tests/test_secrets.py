"""Credentials reach a plan only as Secret references, never as text in env, files or labels."""

from __future__ import annotations

import dagger
import pytest
from dagger import dag

from egstalker import Egstalker, pins
from tests.plan import calls, named, strings

pytestmark = pytest.mark.anyio

TOKEN = "ghp_n0t-a-real-token-but-unmistakable"


async def test_registry_password_is_only_a_secret_reference() -> None:
    egs = await Egstalker.create()
    secret = dag.set_secret("registry-token", TOKEN)
    for variant in ("single-stage", "multistage"):
        image = egs._publishable(variant, "ghcr.io/me/egstalker", "me", secret)
        (auth,) = named(image, "withRegistryAuth")
        assert auth.args["address"] == "ghcr.io"
        assert auth.args["username"] == "me"
        assert auth.args["secret"] is secret  # by reference
        # outside the Secret itself, its value is in no argument: no env, file or label
        assert not any(TOKEN in text for text in strings(image, skip=(dagger.Secret,)))
        assert not [c for c in calls(image) if c.name == "withSecretVariable"]


async def test_images_bake_in_no_credentials_ca_bundles_or_host_paths() -> None:
    egs = await Egstalker.create()
    for image in (egs.build_single_stage(), egs.build_multistage()):
        for call in calls(image):
            if call.name in {"withEnvVariable", "withLabel"}:
                value = call.args["value"]
                # a path of this machine's home folders never reaches an image; the images'
                # own homes (root's, the runtime user's) are fine
                own_home = value == pins.ROOT_HOME or value.startswith(
                    (f"{pins.ROOT_HOME}/", pins.RUNTIME_HOME)
                )
                assert own_home or not value.startswith(("/home/", "/root/", "/Users/")), call
                for marker in ("TOKEN", "PASSWORD", "BEGIN CERTIFICATE", "ghp_"):
                    assert marker not in value.upper(), call
            if call.name == "withNewFile":
                assert "BEGIN CERTIFICATE" not in call.args["contents"]
                assert not call.args["path"].endswith((".pem", ".crt", "netrc", ".pypirc"))


async def test_the_check_would_see_a_leaked_value() -> None:
    leaked = dag.container().from_("alpine").with_env_variable("REGISTRY_TOKEN", TOKEN)
    assert any(TOKEN in text for text in strings(leaked, skip=(dagger.Secret,)))
