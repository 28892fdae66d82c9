"""Make stand-in files for the weights a rehearsal bakes, in the image's own Python.

    python standin_weights.py WEIGHTS.json OUT_DIR

For each table of WEIGHTS.json (data/weights.toml as JSON) that an image bakes, it writes
OUT_DIR/NAME/FILE, the file the URL would give: torchvision's checkpoints as the state
dict of that torchvision model, freshly initialised (the app loads VGG16 at start, so the
file must load); a zip holding the member ``extract`` names; otherwise random bytes. It
prints, as JSON, each name's file and the sha256 of what lands in the image (the member
of a zip). Runs where torch and torchvision are installed: in the rehearsal's base.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

FILLER = 1 << 20


def torchvision_state(file_name: str) -> object:
    import torchvision

    builder = getattr(torchvision.models, file_name.split("-")[0])
    return builder(weights=None).state_dict()


def make(name: str, table: dict, out: Path) -> dict:
    file_name = table["url"].rsplit("/", 1)[-1]
    target = out / name / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    if table["url"].startswith("https://download.pytorch.org/models/"):
        import torch

        torch.save(torchvision_state(file_name), target)
        placed = target.read_bytes()
    elif table.get("extract"):
        placed = os.urandom(FILLER)
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr(table["extract"], placed)
    else:
        placed = os.urandom(FILLER)
        target.write_bytes(placed)
    return {"file": f"{name}/{file_name}", "sha256": hashlib.sha256(placed).hexdigest()}


def main(argv: list[str]) -> int:
    tables = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    made = {n: make(n, t, out) for n, t in sorted(tables.items()) if t["image"] != "none"}
    (out / "served.json").write_text(json.dumps(made, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
