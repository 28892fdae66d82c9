"""Record more facts in the build manifest: each given JSON file under its key.

    python manifest.py MANIFEST OUT KEY=FILE [KEY=FILE ...]

The builder's architecture check writes the manifest (/opt/egstalker/manifest.json); the
images add what they learn after it: the comparison of the two bases (``bases``) and the
weights baked in (``weights``). OUT is written whole or not at all. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


class BadInput(Exception):
    """A file that cannot be read as what it should be; the message names it."""


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BadInput(f"cannot read the {what} {path}: {err}") from err


def entry(text: str) -> tuple[str, Path]:
    key, equals, path = text.partition("=")
    if not (equals and key and path):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=FILE")
    return key, Path(path)


def merged(manifest: Path, entries: list[tuple[str, Path]]) -> dict[str, Any]:
    data = read_json(manifest, "manifest")
    if not isinstance(data, dict):
        raise BadInput(f"cannot read the manifest {manifest}: it is not a JSON object")
    for key, path in entries:
        data[key] = read_json(path, f"'{key}' record")
    return data


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(json.dumps(data, indent=2) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="the build manifest to add to")
    parser.add_argument("out", type=Path, help="where to write the result")
    parser.add_argument("entries", type=entry, nargs="+", metavar="KEY=FILE")
    args = parser.parse_args(argv)
    try:
        write_atomically(args.out, merged(args.manifest, args.entries))
    except BadInput as err:
        print(f"manifest.py: {err}", file=sys.stderr)
        return 2
    print(f"recorded {', '.join(key for key, _ in args.entries)} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
