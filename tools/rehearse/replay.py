"""Replay a module's lazy Dagger plan onto root filesystems: the image built without an engine.

The plan is the module's own (``Images``' chains, read through ``tools/plan.py``), so the
rehearsal runs exactly the steps, programs, arguments, environment and mounts the images
are built with. Only what lies outside the plan is stood in for: the base images
(``from``), the git trees, the network's files and the Debian names of Ubuntu's packages
(``hooks``). Every GraphQL field the
module uses has a handler here; any other stops the rehearsal, naming it.

A container is a stack of layers (``layers``): a chain's file steps write into a new
layer, each ``withExec`` runs in ``sandbox.py`` and seals its own. A value is computed once
per plan prefix (keyed by the prefix's calls), so a builder that several chains share, or
an environment that several compiles start from, is built once.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.plan import Call, calls, is_lazy
from tools.rehearse import trees
from tools.rehearse.layers import LayerStore

SANDBOX = Path(__file__).with_name("sandbox.py")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOG_TAIL = 40


@dataclass(frozen=True)
class ExecResult:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    log: Path  # the step's output, as LOG.out and LOG.err


class RehearsalError(Exception):
    """The rehearsal cannot go on: a step failed or the plan asks for what it cannot do."""

    def __init__(self, message: str, result: ExecResult | None = None) -> None:
        super().__init__(message)
        self.result = result  # the failed step's, when a step failed


@dataclass(frozen=True)
class Mount:
    kind: str  # cache, directory or file
    source: Path


@dataclass
class Ctr:
    """A container's state: its layers, config, mounts, and the last exec's result."""

    layers: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "/"
    user: str = ""
    mounts: tuple[tuple[str, Mount], ...] = ()
    result: ExecResult | None = None
    upper: str | None = None  # the layer this chain writes into, while it is open
    root: Path | None = None  # where that layer is mounted

    def with_(self, **changes: Any) -> Ctr:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class GitRef:
    url: str
    commit: str = ""


@dataclass(frozen=True)
class Base:
    """A base image stood in for: its layers and its config (env, working folder)."""

    layers: tuple[Path, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str


@dataclass
class Hooks:
    """What lies outside the plan: bases, git trees, files fetched from the network."""

    base: Callable[[str], Base]
    git_tree: Callable[[str, str], Path]
    new_file: Callable[[str, str], str] = lambda path, contents: contents
    exec_args: Callable[[list[str]], list[str]] = lambda args: args
    # mounted into every step that may use the network (certificates, a package cache)
    network_binds: tuple[tuple[str, str, bool], ...] = ()
    network_env: Mapping[str, str] = field(default_factory=dict)


def _plain(value: Any, key: Callable[[Any], str]) -> Any:
    if is_lazy(value):
        return key(value)
    if isinstance(value, list | tuple):
        return tuple(_plain(v, key) for v in value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


class Replayer:
    """Evaluates containers, directories and files of a plan; see the module's docstring."""

    def __init__(self, work: Path, volumes: Path, hooks: Hooks, log: Callable[[str], None]) -> None:
        self.store = LayerStore(work)
        self.work = work
        self.volumes = volumes
        self.hooks = hooks
        self.log = log
        self.offline = False
        self.steps: list[tuple[str, float]] = []
        self._keys: dict[int, str] = {}
        self._alive: list[Any] = []  # keeps keyed objects alive, so ids stay theirs
        self._memo: dict[str, Any] = {}
        self._views: dict[tuple[str, ...], Path] = {}
        self._bases: dict[str, Base] = {}
        self._count = 0

    # --- keys: one per plan prefix ---

    def _prefix_keys(self, chain: list[Call]) -> list[str]:
        keys, digest = [], ""
        for call in chain:
            args = sorted((k, _plain(v, self.key)) for k, v in call.args.items())
            text = repr((digest, call.type_name, call.name, args))
            digest = hashlib.sha256(text.encode()).hexdigest()
            keys.append(digest)
        return keys

    def key(self, obj: Any) -> str:
        if id(obj) not in self._keys:
            self._alive.append(obj)
            self._keys[id(obj)] = self._prefix_keys(calls(obj))[-1]
        return self._keys[id(obj)]

    # --- evaluation ---

    def evaluate(self, obj: Any) -> Any:
        """The value of a lazy Container, Directory or File."""
        chain = calls(obj)
        keys = self._prefix_keys(chain)
        start = next((i for i in range(len(chain) - 1, -1, -1) if keys[i] in self._memo), -1)
        value = self._memo[keys[start]] if start >= 0 else None
        for i in range(start + 1, len(chain)):
            if isinstance(value, Ctr) and chain[i].name in ("directory", "file", "rootfs"):
                value = self._close(value)
                self._memo[keys[i - 1]] = value
            value = self._apply(value, chain[i])
            if isinstance(value, Ctr) and chain[i].name == "withExec":
                value = self._close(value)  # a layer per exec, as the engine keeps it,
                self._memo[keys[i]] = value  # so chains that part after it share it
        if isinstance(value, Ctr):
            value = self._close(value)
        self._memo[keys[-1]] = value
        return value

    def container(self, obj: Any) -> Ctr:
        value = self.evaluate(obj)
        assert isinstance(value, Ctr)
        return value

    def path(self, obj: Any) -> Path:
        value = self.evaluate(obj)
        assert isinstance(value, Path)
        return value

    def _apply(self, value: Any, call: Call) -> Any:
        handler = getattr(self, f"_{call.type_name}_{call.name}", None)
        if handler is None:
            raise RehearsalError(
                f"the rehearsal cannot replay {call.type_name}.{call.name}: add a handler "
                "to tools/rehearse/replay.py that does what the engine does"
            )
        args = {k: self._resolved(v) for k, v in call.args.items()}
        return handler(value, **args)

    def _resolved(self, value: Any) -> Any:
        if is_lazy(value):
            return self.evaluate(value)
        if isinstance(value, list):
            return [self._resolved(v) for v in value]
        if isinstance(value, enum.Enum):
            return value.value
        return value

    def _scratch(self) -> Path:
        self._count += 1
        folder = self.work / "d" / str(self._count)
        folder.mkdir(parents=True)
        return folder

    # --- layers ---

    def _open(self, ctr: Ctr) -> Ctr:
        """The container with a new top layer mounted writable (``ctr.root``)."""
        if ctr.upper is not None:
            return ctr
        upper = self.store.new()
        return ctr.with_(upper=upper, root=self.store.mount(ctr.layers, upper))

    def _close(self, ctr: Ctr) -> Ctr:
        """The container with its top layer unmounted and sealed."""
        if ctr.upper is None:
            return ctr
        assert ctr.root is not None
        self.store.unmount(ctr.root)
        return ctr.with_(layers=(*ctr.layers, ctr.upper), upper=None, root=None)

    open_layer = _open
    close_layer = _close

    def exec(self, ctr: Ctr, args: list[str]) -> Ctr:
        """Run a command in an open container, as ``withExec`` does."""
        return self._Container_withExec(ctr, args)

    def view(self, ctr: Ctr) -> Path:
        """A closed container's root, mounted read-only."""
        if ctr.layers not in self._views:
            self._views[ctr.layers] = self.store.mount(ctr.layers)
        return self._views[ctr.layers]

    def _inside(self, ctr: Ctr, path: str) -> Path:
        assert ctr.root is not None
        return ctr.root / path.lstrip("/")

    def _owner(self, ctr: Ctr, owner: str | None) -> trees.Owner | None:
        """A ``user[:group]`` (names or ids) as the container's /etc/passwd and /etc/group say."""
        if not owner:
            return None
        root = ctr.root if ctr.root is not None else self.view(ctr)
        user, _, group = owner.partition(":")
        uid, gid = self._user_ids(root, user)
        if group:
            gid = int(group) if group.isdigit() else self._group_id(root, group)
        return uid, gid

    @staticmethod
    def _user_ids(root: Path, user: str) -> tuple[int, int]:
        for line in (root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) > 3 and (fields[0] == user or fields[2] == user):
                return int(fields[2]), int(fields[3])
        if user.isdigit():
            return int(user), int(user)
        raise RehearsalError(f"no user {user!r} in the container's /etc/passwd")

    @staticmethod
    def _group_id(root: Path, group: str) -> int:
        for line in (root / "etc/group").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == group:
                return int(fields[2])
        raise RehearsalError(f"no group {group!r} in the container's /etc/group")

    @staticmethod
    def _groups(root: Path, user: str, gid: int) -> list[int]:
        found = [gid]
        for line in (root / "etc/group").read_text().splitlines():
            fields = line.split(":")
            if len(fields) > 3 and user in fields[3].split(","):
                found.append(int(fields[2]))
        return found

    # --- Query ---

    def _Query_container(self, _: None) -> Ctr:
        return Ctr()

    def _Query_directory(self, _: None) -> Path:
        return self._scratch()

    def _Query_git(self, _: None, url: str) -> GitRef:
        return GitRef(url)

    def _Query_cacheVolume(self, _: None, key: str) -> Path:
        return self.volume(key)

    def volume(self, key: str) -> Path:
        """A cache volume's folder, kept in the cache between rehearsals."""
        folder = self.volumes / key
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _GitRepository_commit(self, ref: GitRef, id: str) -> GitRef:
        return GitRef(ref.url, id)

    def _GitRef_tree(self, ref: GitRef, discardGitDir: bool = False) -> Path:
        return self.hooks.git_tree(ref.url, ref.commit)

    # --- Container: config ---

    def _Container_from(self, ctr: Ctr, address: str) -> Ctr:
        if address not in self._bases:
            self._bases[address] = self.hooks.base(address)
        base = self._bases[address]
        layers = tuple(self.store.adopt(layer) for layer in base.layers)
        return Ctr(layers=layers, env=base.env, workdir=base.workdir)

    def _Container_withEnvVariable(
        self, ctr: Ctr, name: str, value: str, expand: bool = False
    ) -> Ctr:
        if expand:
            value = self._expand(ctr, value)
        env = tuple((k, v) for k, v in ctr.env if k != name)
        return ctr.with_(env=(*env, (name, value)))

    @staticmethod
    def _expand(ctr: Ctr, value: str) -> str:
        for name, current in sorted(ctr.env, key=lambda kv: -len(kv[0])):
            value = value.replace(f"${{{name}}}", current).replace(f"${name}", current)
        return value

    def _Container_withoutEnvVariable(self, ctr: Ctr, name: str) -> Ctr:
        return ctr.with_(env=tuple((k, v) for k, v in ctr.env if k != name))

    def _Container_withWorkdir(self, ctr: Ctr, path: str) -> Ctr:
        return ctr.with_(workdir=path)

    def _Container_withUser(self, ctr: Ctr, name: str) -> Ctr:
        return ctr.with_(user=name)

    def _Container_withLabel(self, ctr: Ctr, name: str, value: str) -> Ctr:
        return ctr  # image metadata: no step reads it, and the probe does not check it

    # --- Container: files ---

    def _Container_withNewFile(
        self, ctr: Ctr, path: str, contents: str, permissions: int = 0o644, owner: str = ""
    ) -> Ctr:
        ctr = self._open(ctr)
        target = self._inside(ctr, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.write_text(self.hooks.new_file(path, contents))
        os.chmod(target, permissions)
        if (ids := self._owner(ctr, owner)) is not None:
            os.lchown(target, *ids)
        return ctr

    def _Container_withFile(
        self, ctr: Ctr, path: str, source: Path, permissions: int | None = None, owner: str = ""
    ) -> Ctr:
        ctr = self._open(ctr)
        trees.copy_file(source, self._inside(ctr, path), self._owner(ctr, owner), permissions)
        return ctr

    def _Container_withDirectory(
        self,
        ctr: Ctr,
        path: str,
        source: Path,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        owner: str = "",
    ) -> Ctr:
        ctr = self._open(ctr)
        owner_ids = self._owner(ctr, owner)
        trees.copy_tree(source, self._inside(ctr, path), include or (), exclude or (), owner_ids)
        return ctr

    def _Container_withSymlink(self, ctr: Ctr, target: str, linkName: str) -> Ctr:
        ctr = self._open(ctr)
        link = self._inside(ctr, linkName)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        return ctr

    # --- Container: mounts ---

    def _mounted(self, ctr: Ctr, path: str, mount: Mount) -> Ctr:
        mounts = tuple((p, m) for p, m in ctr.mounts if p != path)
        return ctr.with_(mounts=(*mounts, (path, mount)))

    def _Container_withMountedCache(
        self, ctr: Ctr, path: str, cache: Path, sharing: str = "SHARED", owner: str = ""
    ) -> Ctr:
        return self._mounted(ctr, path, Mount("cache", cache))

    def _Container_withMountedDirectory(
        self, ctr: Ctr, path: str, source: Path, owner: str = ""
    ) -> Ctr:
        return self._mounted(ctr, path, Mount("directory", source))

    def _Container_withMountedFile(self, ctr: Ctr, path: str, source: Path, owner: str = "") -> Ctr:
        return self._mounted(ctr, path, Mount("file", source))

    def _Container_withoutMount(self, ctr: Ctr, path: str) -> Ctr:
        return ctr.with_(mounts=tuple((p, m) for p, m in ctr.mounts if p != path))

    # --- Container: exec ---

    def _Container_withExec(
        self,
        ctr: Ctr,
        args: list[str],
        redirectStdout: str = "",
        expect: str = "SUCCESS",
    ) -> Ctr:
        ctr = self._open(ctr)
        assert ctr.root is not None
        env = dict(ctr.env)
        env.setdefault("PATH", DEFAULT_PATH)
        binds: list[tuple[str, str, bool]] = []
        copies: list[Path] = []
        for path, mount in ctr.mounts:
            source = mount.source
            if mount.kind == "directory":  # writable, its changes dropped: a layer of its own
                upper = self.store.new()
                source = self.store.mount([self.store.adopt(mount.source)], upper)
                copies.append(source)
            binds.append((str(source), path, mount.kind == "file"))
        if not self.offline:
            binds += self.hooks.network_binds
            env.update(self.hooks.network_env)
        uid, gid = self._user_ids(ctr.root, ctr.user) if ctr.user else (0, 0)
        groups = self._groups(ctr.root, ctr.user, gid) if ctr.user else [0]
        spec = {
            "root": str(ctr.root),
            "args": self.hooks.exec_args(list(args)),
            "env": env,
            "workdir": ctr.workdir,
            "user": [uid, gid, groups],
            "binds": binds,
            "stdout": redirectStdout or None,
        }
        result = self._run(spec)
        for point in copies:
            self.store.unmount(point)
        code = result.exit_code
        signalled = 128 <= code < 192
        if signalled or (expect == "SUCCESS" and code != 0) or (expect == "FAILURE" and code == 0):
            raise RehearsalError(
                f"step failed with exit code {code}: {' '.join(args)}\n"
                + "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL:])
                + f"\n(its whole output: {result.log}.out and .err)",
                result,
            )
        return ctr.with_(result=result)

    def _run(self, spec: dict) -> ExecResult:
        self._count += 1
        number = self._count
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        spec_path = logs / f"{number}.json"
        spec_path.write_text(json.dumps(spec, indent=1))
        command = ["unshare", "--mount", "--pid", "--ipc", "--fork", "--kill-child"]
        if self.offline:
            command.append("--net")
        command += [sys.executable, str(SANDBOX), str(spec_path)]
        label = " ".join(spec["args"])
        self.log(f"  run  {label[:150]}{' (offline)' if self.offline else ''}")
        started = time.monotonic()
        with (logs / f"{number}.out").open("wb") as out, (logs / f"{number}.err").open("wb") as err:
            code = subprocess.run(command, stdout=out, stderr=err, check=False).returncode
        seconds = time.monotonic() - started
        self.steps.append((label, seconds))
        self.log(f"       exit {code} in {seconds:.1f} s")
        return ExecResult(
            tuple(spec["args"]),
            code,
            (logs / f"{number}.out").read_text(errors="replace"),
            (logs / f"{number}.err").read_text(errors="replace"),
            seconds,
            logs / str(number),
        )

    # --- Container: reads ---

    def _Container_directory(self, ctr: Ctr, path: str) -> Path:
        folder = self.view(ctr) / path.lstrip("/")
        if not folder.is_dir():
            raise RehearsalError(f"no folder {path} in the container")
        return folder

    def _Container_rootfs(self, ctr: Ctr) -> Path:
        return self.view(ctr)

    def _Container_file(self, ctr: Ctr, path: str) -> Path:
        file = self.view(ctr) / path.lstrip("/")
        if not file.is_file():
            raise RehearsalError(f"no file {path} in the container")
        return file

    # --- Directory ---

    def _Directory_directory(self, folder: Path, path: str) -> Path:
        inner = folder / path.lstrip("/")
        if not inner.is_dir():
            raise RehearsalError(f"no folder {path} in the directory")
        return inner

    def _Directory_filter(
        self, folder: Path, include: list[str] | None = None, exclude: list[str] | None = None
    ) -> Path:
        out = self._scratch()
        trees.copy_tree(folder, out, include or (), exclude or ())
        return out

    def _Directory_withDirectory(
        self,
        folder: Path,
        path: str,
        source: Path,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        owner: str = "",
    ) -> Path:
        if owner:
            raise RehearsalError("Directory.withDirectory with an owner is not replayed")
        out = self._scratch()
        trees.copy_tree(folder, out)
        trees.copy_tree(source, out / path.lstrip("/"), include or (), exclude or ())
        return out

    def _Directory_withNewFile(
        self, folder: Path, path: str, contents: str, permissions: int = 0o644
    ) -> Path:
        out = self._scratch()
        trees.copy_tree(folder, out)
        target = out / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(contents)
        os.chmod(target, permissions)
        return out

    def _Directory_diff(self, folder: Path, other: Path) -> Path:
        out = self._scratch()
        trees.diff_tree(folder, other, out)
        return out

    def cleanup(self) -> None:
        """Drop the work folder's layers; each step's command and output stay in ``logs``."""
        self.store.unmount_all()
        self._views.clear()
        for entry in self.work.iterdir():
            if entry.name != "logs" and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
