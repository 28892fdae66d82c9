"""Run one install and check that it only added folders of its own to site-packages.

    python install_scope.py PREFIX SITE_PACKAGES -- COMMAND [ARG ...]

The builder compiles each extension in a branch of its own and brings the branches'
results together by taking what each added under SITE_PACKAGES. That is sound only when
the install changed nothing else: this program records PREFIX (the whole environment),
runs COMMAND, and then compares. It passes when every change is an entry added at the
top of SITE_PACKAGES (``simple_knn/``, ``simple_knn-0.0.0.dist-info/``) or inside one;
it fails, naming each path, when COMMAND changed or removed anything that was there
before, added anything elsewhere in PREFIX or inside a folder that was there, or added
nothing. COMMAND runs with PYTHONDONTWRITEBYTECODE=1, so that the modules it imports
leave no bytecode in folders that are not its own (pip still compiles what it installs).
Exit code: COMMAND's when it fails, 1 when the check fails, else 0.
"""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path

SHOWN = 20  # paths named for each kind of change; the rest are counted
# kind, permission bits, size, modification time, link target: what tells a change
Entry = tuple[str, int, int, int, str]


def snapshot(root: Path) -> dict[str, Entry]:
    """Every entry under ``root`` by relative path; links are recorded, never followed.

    Folders are recorded by kind and mode only: adding an entry changes a folder's time.
    """
    entries: dict[str, Entry] = {}
    pending = [root]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as listing:
            for item in listing:
                info = item.stat(follow_symlinks=False)
                relative = Path(item.path).relative_to(root).as_posix()
                mode = stat.S_IMODE(info.st_mode)
                if stat.S_ISLNK(info.st_mode):
                    entries[relative] = ("link", mode, 0, 0, os.readlink(item.path))
                elif stat.S_ISDIR(info.st_mode):
                    entries[relative] = ("folder", mode, 0, 0, "")
                    pending.append(Path(item.path))
                else:
                    entries[relative] = ("file", mode, info.st_size, info.st_mtime_ns, "")
    return entries


def own_folders(added: set[str], site: str) -> set[str]:
    """The new top-level entries of ``site`` (a path relative to the prefix)."""
    return {path for path in added if path.rpartition("/")[0] == site}


def findings(before: dict[str, Entry], after: dict[str, Entry], site: str) -> list[str]:
    """What the install did besides adding entries of its own at the top of ``site``."""
    added = set(after) - set(before)
    own = own_folders(added, site)
    found = [f"removed: {p}" for p in sorted(set(before) - set(after))]
    found += [f"changed: {p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    found += [
        f"added outside its own folders: {p}"
        for p in sorted(added - own)
        if not any(p.startswith(f"{top}/") for top in own)
    ]
    if not own:
        found.append(f"added nothing to {site}")
    return found


def shown(lines: list[str]) -> list[str]:
    return lines[:SHOWN] + ([f"... and {len(lines) - SHOWN} more"] if len(lines) > SHOWN else [])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="install_scope.py", description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path, help="the environment the install writes to")
    parser.add_argument("site_packages", type=Path, help="its site-packages, inside PREFIX")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- and the install command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the install command after --")
    prefix, site = args.prefix.resolve(), args.site_packages.resolve()
    if not site.is_dir() or prefix not in site.parents:
        parser.error(f"invalid SITE_PACKAGES {str(args.site_packages)!r}: not a folder in {prefix}")
    relative_site = site.relative_to(prefix).as_posix()
    before = snapshot(prefix)
    code = subprocess.run(command, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")).returncode
    if code != 0:
        return code
    after = snapshot(prefix)
    found = findings(before, after, relative_site)
    if found:
        print(
            f"install_scope.py: the install changed {prefix} beyond folders of its own in "
            f"{site}, which is all the build takes from it:",
            file=sys.stderr,
        )
        for line in shown(found):
            print(f"  {line}", file=sys.stderr)
        return 1
    added = sorted(own_folders(set(after) - set(before), relative_site))
    names = ", ".join(Path(p).name + ("/" if after[p][0] == "folder" else "") for p in added)
    print(f"install_scope.py: the install added only its own entries to {site}: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
