"""The media driver launcher and the doctor/driver commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fixg import driver
from fixg.aeron import Client
from fixg.aeron.cnc import pid_alive, read_cnc
from fixg.cli import main
from fixg.errors import ConfigError, DriverError, FixTimeoutError

pytestmark = pytest.mark.aeron

SMALL = {"aeron.threading.mode": "SHARED", "aeron.shared.idle.strategy": "backoff",
         "aeron.ipc.term.buffer.length": "64k", "aeron.term.buffer.length": "64k"}


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_start_and_stop_cleans_up(aeron_dir: Path, start_driver: Callable[..., driver.DriverHandle]) -> None:
    handle = start_driver(aeron_dir, {"aeron.mtu.length": "4k", "aeron.conductor.cpu.affinity": "-1"})
    assert handle.is_alive()
    snapshot = read_cnc(aeron_dir)
    assert snapshot is not None and snapshot.metadata.pid == handle.pid
    assert handle.properties["aeron.threading.mode"] == "SHARED"
    assert handle.properties["aeron.mtu.length"] == "4096"
    status = driver.status(aeron_dir)
    assert status.alive and status.pid == handle.pid and status.cnc_version
    handle.stop()
    assert not handle.is_alive()
    assert handle.returncode == 0  # a clean shutdown
    assert not aeron_dir.exists()
    assert not driver.status(aeron_dir).alive
    handle.stop()  # idempotent


def test_properties_reach_the_driver(aeron_dir: Path, start_driver: Callable[..., driver.DriverHandle],
                                     tmp_path: Path) -> None:
    props = tmp_path / "driver.properties"
    props.write_text("aeron.ipc.term.buffer.length=256k\naeron.ipc.mtu.length=2k\n", encoding="utf-8")
    start_driver(aeron_dir, {"aeron.ipc.term.buffer.length": "128k"}, properties_file=props)
    with Client(aeron_dir) as client:
        pub = client.add_publication("aeron:ipc", 5)
        assert pub.max_payload_length == 2048 - 32  # from the file
        assert pub.constants.term_buffer_length == 128 * 1024  # the mapping overrides the file


def test_second_driver_on_the_same_directory_is_refused(
    aeron_dir: Path, start_driver: Callable[..., driver.DriverHandle]
) -> None:
    first = start_driver(aeron_dir)
    with pytest.raises(DriverError, match="already running") as info:
        start_driver(aeron_dir)
    assert str(aeron_dir) in str(info.value) and str(first.pid) in str(info.value)
    assert first.is_alive()


@pytest.mark.parametrize(
    ("properties", "key"),
    [
        ({"aeron.threading.mod": "SHARED"}, "aeron.threading.mod"),
        ({"aeron.term.buffer.length": "1000"}, "aeron.term.buffer.length"),
        ({"aeron.threading.mode": "TURBO"}, "aeron.threading.mode"),
    ],
)
def test_bad_properties_are_refused_before_spawning(
    aeron_dir: Path, start_driver: Callable[..., driver.DriverHandle], properties: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        start_driver(aeron_dir, properties)
    assert info.value.key == key
    assert not aeron_dir.exists()


def test_driver_refusal_is_reported_with_libaeron_error(
    start_driver: Callable[..., driver.DriverHandle]
) -> None:
    # valid properties, but a directory the C driver cannot create
    unusable = Path("/proc/fixg-cannot-create-this")
    with pytest.raises(DriverError, match="refused to start") as info:
        start_driver(unusable)
    assert info.value.errmsg  # libaeron's own explanation is carried over
    assert str(unusable) in str(info.value)


def test_not_ready_in_time(aeron_dir: Path, start_driver: Callable[..., driver.DriverHandle]) -> None:
    with pytest.raises(FixTimeoutError, match="did not start"):
        start_driver(aeron_dir, timeout_s=0.001)
    assert not aeron_dir.exists()


def test_stale_directory_of_a_killed_driver_is_reused(
    aeron_dir: Path, start_driver: Callable[..., driver.DriverHandle]
) -> None:
    first = start_driver(aeron_dir)
    first.kill()
    assert not first.is_alive()
    assert (aeron_dir / "cnc.dat").exists()  # left behind by SIGKILL
    assert not driver.status(aeron_dir).alive
    second = start_driver(aeron_dir)
    assert second.is_alive() and second.pid != first.pid
    second.stop()
    first.stop()
    assert not aeron_dir.exists()


def test_driver_dies_with_its_parent(aeron_dir: Path, aeron_library: object) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        from fixg import driver
        handle = driver.start({SMALL!r}, aeron_dir={str(aeron_dir)!r})
        print(handle.pid, flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    pid = int(parent.stdout.split()[0])
    try:
        wait_for(lambda: not pid_alive(pid))
        wait_for(lambda: not aeron_dir.exists())  # it shut down cleanly and deleted its directory
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_doctor_reports_library_and_driver(
    media_driver: driver.DriverHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--dir", media_driver.aeron_dir, "--require-driver"]) == 0
    out = capsys.readouterr().out
    assert "library:" in out and "version:" in out and "aeron version=" in out
    assert "driver API:     yes" in out
    assert "shared memory:" in out and "free of" in out
    assert f"alive, pid {media_driver.pid}" in out


def test_doctor_without_driver(aeron_dir: Path, aeron_library: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--dir", str(aeron_dir)]) == 0
    assert "not running (no CnC file)" in capsys.readouterr().out
    assert main(["doctor", "--dir", str(aeron_dir), "--require-driver"]) == 1


def test_fixg_driver_runs_in_the_foreground(aeron_dir: Path, aeron_library: object, tmp_path: Path) -> None:
    config = tmp_path / "fixg.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [aeron]
            "aeron.dir" = "{aeron_dir}"
            "aeron.threading.mode" = "SHARED"
            "aeron.shared.idle.strategy" = "backoff"
            "aeron.ipc.term.buffer.length" = "64k"
            """
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "fixg", "driver", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: driver.status(aeron_dir).alive or process.poll() is not None)
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "media driver running" in out and str(aeron_dir) in out
    assert not aeron_dir.exists()


def test_fixg_driver_rejects_a_bad_property(aeron_library: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["driver", "-D", "aeron.mtu.lenght=4k"]) == 1
    assert "did you mean 'aeron.mtu.length'" in capsys.readouterr().err
