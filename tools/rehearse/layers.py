"""Root filesystems as stacks of overlayfs layers, the way a container engine keeps images.

Every layer is a folder of ``WORK/l``; a container's root is its stack of layers mounted
with overlayfs (the top layer first), and what a step changes lands in a new, empty top
layer, deletions as overlayfs whiteouts. Base layers live in the cache and are linked in.
Mounts are made in the rehearsal's own mount namespace and vanish with it.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

CLONE_NEWNS = 0x00020000


def private_mount_namespace() -> None:
    """Move this process into a mount namespace of its own: its mounts end with it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(
            ctypes.get_errno(), f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}"
        )
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)


class LayerStore:
    """Layers and mount points under one work folder, named short (overlayfs options are short)."""

    def __init__(self, work: Path) -> None:
        self.layers = work / "l"
        self.points = work / "m"
        self.scratch = work / "w"
        for folder in (self.layers, self.points, self.scratch):
            folder.mkdir(parents=True, exist_ok=True)
        self._names = itertools.count()
        self._empty = self.new()

    def new(self) -> str:
        """A new, empty layer."""
        name = str(next(self._names))
        (self.layers / name).mkdir()
        return name

    def adopt(self, folder: Path) -> str:
        """A layer kept elsewhere (a cached base layer), linked in under a short name."""
        name = f"b{next(self._names)}"
        (self.layers / name).symlink_to(folder.resolve())
        return name

    def path(self, name: str) -> Path:
        return self.layers / name

    def mount(self, lowers: Sequence[str], upper: str | None = None) -> Path:
        """The stack ``lowers`` (bottom first) mounted: writable into ``upper``, else read-only."""
        stack = list(reversed(lowers))
        if upper is None and len(stack) < 2:
            stack.append(self._empty)  # overlayfs wants two lower layers when read-only
        options = "lowerdir=" + ":".join(stack)
        point = self.points / (upper or f"r{next(self._names)}")
        point.mkdir()
        if upper is not None:
            work = self.scratch / upper
            work.mkdir()
            options += f",upperdir={upper},workdir=../w/{upper}"
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(point)],
            cwd=self.layers,
            check=True,
        )
        return point

    @staticmethod
    def unmount(point: Path) -> None:
        subprocess.run(["umount", str(point)], check=True)

    def unmount_all(self) -> None:
        """Every mount still made under the work folder (a failed step leaves its root)."""
        mounted = [
            line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
        ]
        for point in reversed(mounted):
            if point.startswith(f"{self.points}/"):
                subprocess.run(["umount", "--lazy", point], check=False)
