"""bake_weights.py, run for real against a local HTTP server serving fixture files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "pipeline" / "src" / "egstalker" / "programs" / "bake_weights.py"
WEIGHTS = ROOT / "pipeline" / "src" / "egstalker" / "data" / "weights.toml"

VGG = b"vgg weights " * 1000
DS = b"deepspeech graph " * 500


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A server on 127.0.0.1 for the test's duration, serving a folder of fixtures."""
    served = tmp_path / "served"
    served.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("torch", "home", "app")}


def serve(served: Path) -> None:
    """A torchvision-style file (sha256 prefix in its name) and a zip with a member."""
    prefix = hashlib.sha256(VGG).hexdigest()[:8]
    (served / f"vgg16-{prefix}.pth").write_bytes(VGG)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.pb", DS)
    (served / "model.pb.zip").write_bytes(buffer.getvalue())
    (served / "face.pth").write_bytes(b"face parsing")


def plan(url: str) -> dict:
    prefix = hashlib.sha256(VGG).hexdigest()[:8]
    return {
        "vgg16": {
            "url": f"{url}/vgg16-{prefix}.pth",
            "root": "torch",
            "path": f"hub/checkpoints/vgg16-{prefix}.pth",
            "sha256_prefix": prefix,
            "image": "runtime",
        },
        "deepspeech": {
            "url": f"{url}/model.pb.zip",
            "root": "home",
            "path": ".tensorflow/models/model.pb",
            "extract": "model.pb",
            "sha1": hashlib.sha1(DS).hexdigest(),
            "image": "preprocessing",
        },
        "face": {
            "url": f"{url}/face.pth",
            "root": "app",
            "path": "data_utils/face_parsing/face.pth",
            "sha256": hashlib.sha256(b"face parsing").hexdigest(),
            "image": "preprocessing",
        },
        "big": {"url": f"{url}/absent", "root": "hf", "path": "hub/x", "image": "none"},
    }


def run(tmp_path: Path, data: dict, *args: str) -> subprocess.CompletedProcess:
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps(data))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, str(PROGRAM), str(weights), *args],
        capture_output=True, text=True, check=False, env=env, timeout=60,
    )  # fmt: skip


def bake_args(roots: dict[str, Path], manifest: Path, image: str) -> list[str]:
    return [
        "--image", image, "--manifest", str(manifest), "--timeout", "10",
        *(f"--root={name}={folder}" for name, folder in roots.items()),
    ]  # fmt: skip


def leftovers(*folders: Path) -> list[str]:
    return [p.name for f in folders if f.exists() for p in f.rglob("*") if p.is_file()]


def test_bakes_each_file_in_place_and_records_it(tmp_path, server, roots):
    url, served = server
    serve(served)
    manifest = tmp_path / "out" / "weights.json"
    result = run(tmp_path, plan(url), *bake_args(roots, manifest, "preprocessing"))
    assert result.returncode == 0, result.stderr
    prefix = hashlib.sha256(VGG).hexdigest()[:8]
    vgg = roots["torch"] / "hub" / "checkpoints" / f"vgg16-{prefix}.pth"
    model = roots["home"] / ".tensorflow" / "models" / "model.pb"
    assert vgg.read_bytes() == VGG
    assert model.read_bytes() == DS  # the zip's member, not the zip
    assert (roots["app"] / "data_utils" / "face_parsing" / "face.pth").is_file()
    records = {r["name"]: r for r in json.loads(manifest.read_text())}
    assert set(records) == {"vgg16", "deepspeech", "face"}  # never the image "none" one
    assert records["vgg16"] == {
        "name": "vgg16",
        "path": str(vgg),
        "size": len(VGG),
        "sha256": hashlib.sha256(VGG).hexdigest(),
        "url": f"{url}/vgg16-{prefix}.pth",
    }
    assert records["deepspeech"]["sha256"] == hashlib.sha256(DS).hexdigest()
    assert not [n for n in leftovers(*roots.values()) if n.endswith((".part", ".member"))]


def test_the_runtime_image_takes_only_runtime_files(tmp_path, server, roots):
    url, served = server
    serve(served)
    manifest = tmp_path / "weights.json.out"
    runtime_roots = {"torch": roots["torch"]}  # the others are not needed
    result = run(tmp_path, plan(url), *bake_args(runtime_roots, manifest, "runtime"))
    assert result.returncode == 0, result.stderr
    assert [r["name"] for r in json.loads(manifest.read_text())] == ["vgg16"]
    assert not roots["home"].exists()


def test_a_hash_mismatch_fails_and_leaves_nothing(tmp_path, server, roots):
    url, served = server
    serve(served)
    data = plan(url)
    data["face"]["sha256"] = "0" * 64
    manifest = tmp_path / "weights.out.json"
    result = run(tmp_path, data, *bake_args(roots, manifest, "preprocessing"))
    assert result.returncode == 1
    assert f"face: hash mismatch for {url}/face.pth: expected sha256 {'0' * 64}" in result.stderr
    assert not manifest.exists()
    assert leftovers(*roots.values()) == []  # the good files are not put in place either


def test_a_missing_file_fails_naming_the_url(tmp_path, server, roots):
    url, served = server
    serve(served)
    (served / "model.pb.zip").unlink()
    manifest = tmp_path / "weights.out.json"
    result = run(tmp_path, plan(url), *bake_args(roots, manifest, "preprocessing"))
    assert result.returncode == 1
    assert f"deepspeech: cannot download {url}/model.pb.zip: " in result.stderr
    assert "404" in result.stderr
    assert not manifest.exists()
    assert leftovers(*roots.values()) == []


def test_an_unreachable_server_fails_naming_the_url(tmp_path, roots):
    data = plan("http://127.0.0.1:9")  # the discard port: nothing listens
    result = run(tmp_path, data, *bake_args(roots, tmp_path / "m.json", "runtime"))
    assert result.returncode == 1
    assert "vgg16: cannot download http://127.0.0.1:9/vgg16-" in result.stderr
    # the fix ends the step's own output, which `dagger call` and the CLI both show
    assert result.stderr.rstrip().splitlines()[-1] == (
        "hint: a download failed: check the network or a proxy of the engine, or build with "
        "--bake-weights=false (the app then downloads them on first use)"
    )


def test_a_file_already_in_place_is_kept(tmp_path, server, roots):
    url, _ = server  # serves nothing
    prefix = hashlib.sha256(VGG).hexdigest()[:8]
    target = roots["torch"] / "hub" / "checkpoints" / f"vgg16-{prefix}.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(VGG)
    manifest = tmp_path / "m.json"
    result = run(tmp_path, plan(url), *bake_args(roots, manifest, "runtime"))
    assert result.returncode == 0, result.stderr
    assert json.loads(manifest.read_text())[0]["path"] == str(target)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"root": "cache"}, "vgg16: root 'cache' is not one of torch, home, app, hf"),
        ({"path": "../x.pth"}, "vgg16: path '../x.pth' must be relative"),
        ({"sha256_prefix": "XYZ"}, "vgg16: sha256_prefix 'XYZ' must be 6-63 lowercase"),
        ({"extract": "a.pb"}, "vgg16: extract needs a .zip url"),
        ({"root": "hf"}, "vgg16: root 'hf' (the Hugging Face cache layout) cannot be baked"),
        ({"url": "ftp://x/y"}, "vgg16: url 'ftp://x/y' must start with https:// or http://"),
        ({"image": "gpu"}, "vgg16: image 'gpu' is not one of runtime, preprocessing, none"),
    ],
)
def test_a_bad_table_is_named(tmp_path, change, message):
    data = plan("http://127.0.0.1:9")
    data["vgg16"].update(change)
    result = run(tmp_path, data, "--check")
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("image", ["runtime", "preprocessing"])
def test_a_baked_file_without_a_hash_is_refused(tmp_path, image):
    data = plan("http://127.0.0.1:9")
    del data["vgg16"]["sha256_prefix"]
    data["vgg16"]["image"] = image
    message = "vgg16: no hash: give sha256 (or sha256_prefix or sha1)"
    result = run(tmp_path, data, "--check")
    assert result.returncode == 2
    assert message in result.stderr


def test_a_missing_root_is_named(tmp_path):
    result = run(tmp_path, plan("http://127.0.0.1:9"), "--image", "preprocessing",
                 "--manifest", str(tmp_path / "m.json"), "--root", f"torch={tmp_path}")  # fmt: skip
    assert result.returncode == 2
    assert "no --root given for app, home" in result.stderr


def test_the_project_weights_file_is_valid(tmp_path):
    data = tomllib.loads(WEIGHTS.read_text())
    result = run(tmp_path, data, "--check")
    assert result.returncode == 0, result.stderr
    # train.py builds VGG16 at import: the runtime image must carry it
    assert data["vgg16"]["image"] == "runtime"
    assert data["vgg16"]["path"] == "hub/checkpoints/vgg16-397923af.pth"
    for name, table in data.items():
        if table["root"] == "torch" and "sha256_prefix" in table:
            # torchvision names its files NAME-<sha256 prefix>.pth
            assert table["path"].endswith(f"-{table['sha256_prefix']}.pth"), name
            assert table["url"].rsplit("/", 1)[1] == table["path"].rsplit("/", 1)[1], name
        # a name carrying a sha256 prefix (torchvision's, face_alignment's) agrees with the
        # whole digest where that is known
        prefix = re.search(r"-([0-9a-f]{6,})\.(pth|zip)$", table["path"])
        if prefix and "sha256" in table:
            assert table["sha256"].startswith(prefix[1]), name
        if table["image"] != "none":
            assert {"sha256", "sha256_prefix", "sha1"} & set(table), f"{name} has no hash"
