"""The weights a rehearsal bakes: stand-in files on a local HTTP server, a table of their own.

The plan's bake step reads data/weights.toml as JSON (``Images._bake``). The rehearsal
replaces that file's contents, and only it, by a table with the same entries whose URLs
point at a server on 127.0.0.1 and whose hashes are the stand-ins' own sha256, so that
``bake_weights.py`` downloads, checks and places files exactly as in a build.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
import tomllib
from pathlib import Path

from dagger import dag

from egstalker import pins
from egstalker.assets import asset_text
from tools.rehearse.replay import Replayer

PROGRAM = Path(__file__).with_name("standin_weights.py")
HASHES = ("sha256", "sha256_prefix", "sha1")


class StandinWeights:
    def __init__(self) -> None:
        self.table = tomllib.loads(asset_text("data/weights.toml"))
        self.served: dict[str, dict] = {}
        self.url = ""

    def prepare(self, replayer: Replayer) -> None:
        """Make the stand-in files (once per weights table) in the runtime base, serve them."""
        text = json.dumps(self.table, sort_keys=True)
        key = hashlib.sha256(text.encode() + PROGRAM.read_bytes()).hexdigest()[:16]
        volume = f"rehearse-weights-{key}"
        folder = replayer.volume(volume)
        if not (folder / "served.json").is_file():
            make = (
                dag.container()
                .from_(pins.RUNTIME_IMAGE)
                .with_new_file("/tmp/weights.json", text)
                .with_new_file("/tmp/standin_weights.py", PROGRAM.read_text())
                .with_mounted_cache("/out", dag.cache_volume(volume))
                .with_exec(["python", "/tmp/standin_weights.py", "/tmp/weights.json", "/out"])
            )
            replayer.container(make)
        self.served = json.loads((folder / "served.json").read_text())
        handler = functools.partial(Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def standin_table(self) -> dict:
        table = {}
        for name, entry in self.table.items():
            entry = {k: v for k, v in entry.items() if k not in HASHES}
            if name in self.served:
                entry["url"] = f"{self.url}/{self.served[name]['file']}"
                entry["sha256"] = self.served[name]["sha256"]
            table[name] = entry
        return table

    def new_file(self, path: str, contents: str) -> str:
        """The plan's file contents, the weights table replaced by the stand-in table."""
        try:
            if json.loads(contents) == self.table:
                return json.dumps(self.standin_table(), sort_keys=True)
        except ValueError:
            pass
        return contents

    def describe(self) -> str:
        names = ", ".join(sorted(self.served))
        return (
            f"weights: stand-in files for {names} on {self.url} (torchvision checkpoints as "
            "freshly initialised state dicts, others random bytes), with their own sha256"
        )


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
