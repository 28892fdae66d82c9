"""tools.rehearse.replay: a plan built with the SDK, replayed onto layers in namespaces."""

from __future__ import annotations

import dagger
import pytest
from dagger import dag

from tests.tools.rehearse.conftest import TINY, needs_root
from tools.rehearse.replay import RehearsalError, Replayer

pytestmark = needs_root


def tiny() -> dagger.Container:
    return dag.container().from_(TINY)


def text(replayer: Replayer, ctr: dagger.Container, path: str) -> str:
    return replayer.path(ctr.file(path)).read_text()


def test_a_step_runs_as_its_user_in_its_folder_with_exactly_its_environment(
    replayer: Replayer,
) -> None:
    ctr = (
        tiny()
        .with_env_variable("GREETING", "hi")
        .with_workdir("/home/egstalker")
        .with_user("egstalker")
        .with_exec(["sh", "-c", "pwd; id -u"], redirect_stdout="/tmp/who")
        .with_exec(["env"], redirect_stdout="/tmp/env")
    )
    assert text(replayer, ctr, "/tmp/who").splitlines() == ["/home/egstalker", "1000"]
    assert sorted(text(replayer, ctr, "/tmp/env").splitlines()) == ["GREETING=hi", "PATH=/bin"]


def test_files_and_folders_land_where_the_plan_puts_them(replayer: Replayer) -> None:
    source = dag.directory().with_new_file("keep.txt", "k").with_new_file("drop.so", "d")
    ctr = (
        tiny()
        .with_new_file("/opt/a.txt", "alpha")
        .with_directory("/opt/tree", source, exclude=["*.so"], owner="egstalker")
        .with_symlink("/opt/a.txt", "/usr/local/bin/a")
    )
    root = replayer.view(replayer.container(ctr))
    assert (root / "opt/a.txt").read_text() == "alpha"
    assert sorted(p.name for p in (root / "opt/tree").iterdir()) == ["keep.txt"]
    assert (root / "opt/tree/keep.txt").stat().st_uid == 1000
    assert (root / "usr/local/bin/a").resolve().name == "a.txt"


def test_a_mounted_folder_takes_no_writes_home_and_a_cache_keeps_them(
    replayer: Replayer,
) -> None:
    source = dag.directory().with_new_file("src.txt", "s")
    ctr = (
        tiny()
        .with_mounted_directory("/src", source)
        .with_mounted_cache("/cache", dag.cache_volume("counter"))
        .with_exec(["sh", "-c", "touch /src/built /cache/kept"])
    )
    root = replayer.view(replayer.container(ctr))
    assert not (root / "src").exists() or not any((root / "src").iterdir())
    assert (replayer.volume("counter") / "kept").is_file()
    assert not (replayer.path(source) / "built").exists()


def test_a_failed_step_stops_naming_its_command_and_exit_code(replayer: Replayer) -> None:
    ctr = tiny().with_exec(["sh", "-c", "echo broken >&2; exit 3"])
    with pytest.raises(RehearsalError, match=r"exit code 3: sh -c echo broken") as failed:
        replayer.container(ctr)
    assert "broken" in str(failed.value)


def test_expect_any_records_the_exit_code_but_a_signal_still_fails(replayer: Replayer) -> None:
    done = replayer.container(
        tiny().with_exec(["sh", "-c", "exit 7"], expect=dagger.ReturnType.ANY)
    )
    assert done.result is not None
    assert done.result.exit_code == 7
    killed = tiny().with_exec(["sh", "-c", "kill -9 $$"], expect=dagger.ReturnType.ANY)
    with pytest.raises(RehearsalError, match="exit code 137"):
        replayer.container(killed)


def test_offline_steps_see_no_network_interface_but_loopback(replayer: Replayer) -> None:
    replayer.offline = True
    ctr = tiny().with_exec(["cat", "/proc/net/dev"], redirect_stdout="/tmp/net")
    names = [
        line.split(":")[0].strip() for line in text(replayer, ctr, "/tmp/net").splitlines()[2:]
    ]
    assert names == ["lo"]


def test_a_shared_prefix_is_built_once(replayer: Replayer) -> None:
    builder = (
        tiny()
        .with_mounted_cache("/c", dag.cache_volume("runs"))
        .with_exec(["sh", "-c", "echo ran >> /c/runs"])
    )
    replayer.container(builder.with_new_file("/one", "1"))
    replayer.container(builder.with_new_file("/two", "2"))
    assert (replayer.volume("runs") / "runs").read_text() == "ran\n"


def test_a_field_the_rehearsal_cannot_replay_is_named(replayer: Replayer) -> None:
    with pytest.raises(RehearsalError, match=r"cannot replay Container\.withExposedPort"):
        replayer.container(tiny().with_exposed_port(8080))


def test_chains_that_part_after_a_step_share_it(replayer: Replayer) -> None:
    environment = (
        tiny()
        .with_mounted_cache("/c", dag.cache_volume("installs"))
        .with_exec(["sh", "-c", "echo ran >> /c/runs"])
    )
    one = environment.with_exec(["touch", "/one"]).rootfs()
    two = environment.with_exec(["touch", "/two"]).rootfs()
    replayer.path(one.diff(two))
    assert (replayer.volume("installs") / "runs").read_text() == "ran\n"
