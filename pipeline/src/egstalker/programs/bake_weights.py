"""Download the files the app fetches on first use into the image, checked and recorded.

    python bake_weights.py WEIGHTS.json --image IMAGE --root NAME=DIR... --manifest OUT.json
    python bake_weights.py WEIGHTS.json --check

WEIGHTS.json is data/weights.toml as JSON (this runs on the image's Python 3.10, which has
no tomllib): one table per file with url, root, path, image and a hash (sha256,
sha256_prefix or sha1). IMAGE is runtime or preprocessing: the runtime image gets the
files marked runtime, the preprocessing images those and the ones marked preprocessing.
Each --root names a folder for a root the tables use (torch=$TORCH_HOME, home=$HOME,
app=the app folder).

Every file is downloaded to a temporary name beside its place and checked first; only
when all are good are they renamed into place and the manifest (name, path, size,
sha256, url per file) written, so a failure leaves nothing half-done. A file already in
place with the right hash is kept. A failure names the file, the URL and the error, and
exits 1; a bad table or option exits 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

IMAGES = ("runtime", "preprocessing")
IMAGE_CHOICES = (*IMAGES, "none")
ROOTS = ("torch", "home", "app", "hf")
CHUNK = 1 << 20
DOWNLOAD_HINT = (
    "a download failed: check the network or a proxy of the engine, or build with "
    "--bake-weights=false (the app then downloads them on first use)"
)


class BakeError(Exception):
    """A download or check that failed: the message names the file, URL and reason."""


class PlanError(Exception):
    """A table or option that cannot be baked as written."""


@dataclass(frozen=True)
class Weight:
    name: str
    url: str
    root: str
    path: str
    image: str
    sha256: str = ""
    sha256_prefix: str = ""
    sha1: str = ""
    extract: str = ""

    def wanted_for(self, image: str) -> bool:
        """The runtime image takes runtime files; the preprocessing images take both."""
        return self.image == "runtime" or (self.image == "preprocessing" == image)


def _hex(value: object, name: str, field: str, lengths: range) -> str:
    text = str(value)
    if not re.fullmatch(r"[0-9a-f]+", text) or len(text) not in lengths:
        raise PlanError(
            f"{name}: {field} {text!r} must be {lengths.start}-{lengths.stop - 1} "
            "lowercase hexadecimal digits"
        )
    return text


def parse_weight(name: str, table: object) -> Weight:
    """One table of weights.toml, checked."""
    if not isinstance(table, dict):
        raise PlanError(f"{name}: expected a table, got {type(table).__name__}")
    for key in ("url", "root", "path", "image"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise PlanError(f"{name}: {key} is missing (a non-empty string)")
    url, root, path, image = table["url"], table["root"], table["path"], table["image"]
    if not url.startswith(("https://", "http://")):
        raise PlanError(f"{name}: url {url!r} must start with https:// or http://")
    if root not in ROOTS:
        raise PlanError(f"{name}: root {root!r} is not one of {', '.join(ROOTS)}")
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise PlanError(f"{name}: path {path!r} must be relative, inside its root, without '..'")
    if image not in IMAGE_CHOICES:
        raise PlanError(f"{name}: image {image!r} is not one of {', '.join(IMAGE_CHOICES)}")
    weight = Weight(
        name,
        url,
        root,
        path,
        image,
        sha256=_hex(table["sha256"], name, "sha256", range(64, 65)) if "sha256" in table else "",
        sha256_prefix=(
            _hex(table["sha256_prefix"], name, "sha256_prefix", range(6, 64))
            if "sha256_prefix" in table
            else ""
        ),
        sha1=_hex(table["sha1"], name, "sha1", range(40, 41)) if "sha1" in table else "",
        extract=str(table.get("extract", "")),
    )
    if image != "none" and not (weight.sha256 or weight.sha256_prefix or weight.sha1):
        raise PlanError(
            f"{name}: no hash: give sha256 (or sha256_prefix or sha1), so that a changed "
            "download is caught"
        )
    if weight.extract and not url.endswith(".zip"):
        raise PlanError(f"{name}: extract needs a .zip url, not {url!r}")
    if image != "none" and root == "hf":
        raise PlanError(f"{name}: root 'hf' (the Hugging Face cache layout) cannot be baked")
    return weight


def parse_plan(data: object) -> list[Weight]:
    if not isinstance(data, dict) or not data:
        raise PlanError("the weights file must be a non-empty object of tables")
    return [parse_weight(name, table) for name, table in sorted(data.items())]


def _digests(path: Path) -> tuple[str, str, int]:
    sha256, sha1, size = hashlib.sha256(), hashlib.sha1(), 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
            size += len(chunk)
    return sha256.hexdigest(), sha1.hexdigest(), size


def check_hash(weight: Weight, path: Path) -> dict:
    """The file's record, or BakeError when it is not the file the table names."""
    sha256, sha1, size = _digests(path)
    expected = [
        ("sha256", weight.sha256, sha256),
        ("sha256 prefix", weight.sha256_prefix, sha256[: len(weight.sha256_prefix)]),
        ("sha1", weight.sha1, sha1),
    ]
    for label, want, got in expected:
        if want and want != got:
            raise BakeError(
                f"{weight.name}: hash mismatch for {weight.url}: expected {label} {want}, "
                f"got {got} (sha256 {sha256}, {size} bytes)"
            )
    return {"name": weight.name, "size": size, "sha256": sha256, "url": weight.url}


def download(weight: Weight, target: Path, timeout: float) -> Path:
    """The file (or zip member) in a temporary file beside ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            request = urllib.request.Request(weight.url, headers={"User-Agent": "bake_weights"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                shutil.copyfileobj(response, out, CHUNK)
        if weight.extract:
            member = target.parent / f"{temporary.name}.member"
            with (
                zipfile.ZipFile(temporary) as archive,
                archive.open(weight.extract) as source,
                member.open("wb") as out,
            ):
                shutil.copyfileobj(source, out, CHUNK)
            temporary.unlink()
            temporary = member
    except (OSError, urllib.error.URLError, zipfile.BadZipFile, KeyError) as error:
        temporary.unlink(missing_ok=True)
        (target.parent / f"{temporary.name}.member").unlink(missing_ok=True)
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        else:
            reason = getattr(error, "reason", None) or error
        raise BakeError(f"{weight.name}: cannot download {weight.url}: {reason}") from error
    return temporary


def bake(weights: list[Weight], roots: dict[str, Path], manifest: Path, timeout: float) -> list:
    """Download, check, then put every file in place and write the manifest."""
    staged: list[tuple[Path, Path]] = []
    records = []
    try:
        for weight in weights:
            target = roots[weight.root] / weight.path
            if target.is_file():
                try:
                    records.append({**check_hash(weight, target), "path": str(target)})
                    continue
                except BakeError:
                    pass  # a stale or foreign file: download it again
            temporary = download(weight, target, timeout)
            staged.append((temporary, target))
            records.append({**check_hash(weight, temporary), "path": str(target)})
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in staged:
        os.replace(temporary, target)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{manifest.name}.", dir=manifest.parent)
    with os.fdopen(handle, "w") as out:
        json.dump(sorted(records, key=lambda r: r["name"]), out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(name, manifest)
    return records


def _root(text: str) -> tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or name not in ROOTS or not folder:
        raise argparse.ArgumentTypeError(
            f"invalid root {text!r}: write NAME=DIR, NAME one of {', '.join(ROOTS)}"
        )
    return name, Path(folder)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, help="data/weights.toml as JSON")
    parser.add_argument("--check", action="store_true", help="only check the tables")
    parser.add_argument("--image", choices=IMAGES)
    parser.add_argument("--root", type=_root, action="append", default=[])
    parser.add_argument("--manifest", type=Path, help="where to write the records (JSON)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per read")
    args = parser.parse_args(argv)
    try:
        try:
            data = json.loads(args.weights.read_text())
        except (OSError, ValueError) as error:
            raise PlanError(f"cannot read {args.weights} as JSON: {error}") from None
        plan = parse_plan(data)
        if args.check:
            print(f"{len(plan)} weights tables are valid")
            return 0
        if args.image is None or args.manifest is None:
            raise PlanError("--image and --manifest are required unless --check is given")
        wanted = [w for w in plan if w.wanted_for(args.image)]
        roots = dict(args.root)
        missing = sorted({w.root for w in wanted} - set(roots))
        if missing:
            raise PlanError(f"no --root given for {', '.join(missing)} (write --root NAME=DIR)")
    except PlanError as error:
        print(f"bake_weights: {error}", file=sys.stderr)
        return 2
    try:
        records = bake(wanted, roots, args.manifest, args.timeout)
    except BakeError as error:
        # the fix last, so that it ends the output every caller shows (dagger call, the CLI)
        print(f"bake_weights: {error}\nhint: {DOWNLOAD_HINT}", file=sys.stderr)
        return 1
    for record in sorted(records, key=lambda r: r["name"]):
        print(f"{record['name']}: {record['path']} ({record['size']} bytes, {record['sha256']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
