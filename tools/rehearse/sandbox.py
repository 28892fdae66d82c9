"""Run one command inside a root filesystem, as a container engine runs a step.

    unshare --mount --pid --ipc --fork [--net] python sandbox.py SPEC.json

Started by ``replay`` in new mount, PID and IPC namespaces (and a network namespace with
no interface for the steps that must run cut off), it mounts ``/proc``, a minimal
``/dev``, a read-only ``/sys`` and the step's mounts into the root, then runs the command
chrooted, as the step's user, in its working folder, with exactly its environment. It
exits with the command's exit code (128+N when a signal N killed it). Standard library
only: it runs with the host's Python before the chroot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def mount_point(path: Path, folder: bool) -> None:
    if folder:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def prepare(root: Path, spec: dict) -> None:
    mount_point(root / "proc", True)
    mount("-t", "proc", "proc", str(root / "proc"))
    dev = root / "dev"
    mount_point(dev, True)
    mount("-t", "tmpfs", "-o", "mode=755,nosuid", "tmpfs", str(dev))
    for name in DEVICES:
        (dev / name).touch()
        mount("--bind", f"/dev/{name}", str(dev / name))
    for name in ("shm", "pts"):
        (dev / name).mkdir()
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", str(dev / "shm"))
    mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", str(dev / "pts"))
    (dev / "ptmx").symlink_to("pts/ptmx")
    (dev / "fd").symlink_to("/proc/self/fd")
    for number, name in enumerate(("stdin", "stdout", "stderr")):
        (dev / name).symlink_to(f"/proc/self/fd/{number}")
    mount_point(root / "sys", True)
    mount("--rbind", "-o", "ro", "/sys", str(root / "sys"))
    for source, target, read_only in spec["binds"]:
        inside = root / target.lstrip("/")
        mount_point(inside, Path(source).is_dir())
        mount("--bind", source, str(inside))
        if read_only:
            mount("-o", "remount,bind,ro", str(inside))


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    root = Path(spec["root"])
    prepare(root, spec)
    uid, gid, groups = spec["user"]
    os.chroot(root)
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    stdout = None
    if spec["stdout"]:
        stdout = open(spec["stdout"], "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        spec["args"],
        env=spec["env"],
        cwd=workdir,
        stdout=stdout,
        stdin=subprocess.DEVNULL,
        user=uid,
        group=gid,
        extra_groups=groups,
    )
    code = process.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"sandbox: {error}", file=sys.stderr)
        sys.exit(125)
