"""The embedded C media driver, spawned as a child process.

``start()`` validates the ``[aeron]`` properties (Java-style names, or a ``.properties`` file
parsed in Python), refuses a directory where a driver is already alive, spawns
``python -m fixg.driver._child`` (libaeron's driver API through ctypes, configured by the
``AERON_*`` environment variables the properties translate to), and returns only once the driver
is really serving: the child reported a successful ``aeron_driver_start`` and the directory's CnC
file is ready, heartbeating, and owned by that child. ``DriverHandle.stop()`` shuts it down
cleanly (SIGTERM, then SIGKILL after a grace period) and removes the directory it created. The
child also shuts down by itself when its parent dies, whatever the cause (it watches a pipe).

fixg's defaults suit small machines (a SHARED threading mode with a backoff idle strategy, sparse
term files, directory deleted on shutdown); every one of them can be overridden.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

from fixg.aeron.cnc import CncSnapshot, pid_alive, read_cnc
from fixg.aeron.loader import LibraryInfo, load_library
from fixg.aeron.properties import (
    load_properties_file,
    parse_bool,
    to_environ,
    validate_properties,
)
from fixg.errors import DriverError, FixTimeoutError

__all__ = [
    "DEFAULT_PROPERTIES",
    "DriverHandle",
    "DriverStatus",
    "start",
    "status",
    "resolve_properties",
]

log = logging.getLogger(__name__)

#: Applied unless the caller's properties say otherwise.
DEFAULT_PROPERTIES: Final[Mapping[str, str]] = {
    "aeron.threading.mode": "SHARED",
    "aeron.shared.idle.strategy": "backoff",
    "aeron.term.buffer.sparse.file": "true",
    "aeron.dir.delete.on.shutdown": "true",
}

_LIVENESS_TIMEOUT_MS: Final = 10_000


@dataclass(frozen=True)
class DriverStatus:
    """What the CnC file of a directory says about its driver."""

    aeron_dir: str
    alive: bool
    cnc_exists: bool
    pid: int | None = None
    heartbeat_age_ms: int | None = None
    cnc_version: str | None = None
    start_timestamp_ms: int | None = None
    detail: str = ""


def status(aeron_dir: str | os.PathLike[str], timeout_ms: int = _LIVENESS_TIMEOUT_MS) -> DriverStatus:
    """Whether a driver is alive in ``aeron_dir``: its CnC file is ready, its heartbeat is more
    recent than ``timeout_ms`` and its process exists."""
    directory = str(aeron_dir)
    cnc_exists = (Path(directory) / "cnc.dat").exists()
    snapshot: CncSnapshot | None = read_cnc(directory)
    if snapshot is None:
        detail = "CnC file not ready" if cnc_exists else "no CnC file"
        return DriverStatus(directory, False, cnc_exists, detail=detail)
    meta = snapshot.metadata
    age = snapshot.heartbeat_age_ms()
    process = pid_alive(meta.pid)
    alive = age <= timeout_ms and process
    if alive:
        detail = f"heartbeat {age} ms ago"
    elif not process:
        detail = f"driver process {meta.pid} is gone (stale directory)"
    else:
        detail = f"no heartbeat for {age} ms (stale directory)"
    return DriverStatus(
        directory, alive, True, meta.pid, age, meta.version_text, meta.start_timestamp_ms, detail
    )


def resolve_properties(
    properties: Mapping[str, object] | None = None,
    *,
    properties_file: str | os.PathLike[str] | None = None,
    aeron_dir: str | os.PathLike[str] | None = None,
    defaults: Mapping[str, str] = DEFAULT_PROPERTIES,
) -> dict[str, str]:
    """Defaults < properties file < ``properties`` < ``aeron_dir``, validated and normalised.
    A bad name or value raises :class:`~fixg.errors.ConfigError` naming it (and the file)."""
    merged: dict[str, str] = dict(validate_properties(defaults, source="fixg defaults"))
    if properties_file is not None:
        from_file = load_properties_file(properties_file)
        merged.update(validate_properties(from_file, source=str(properties_file)))
    if properties:
        merged.update(validate_properties(properties))
    if aeron_dir is not None:
        merged["aeron.dir"] = str(aeron_dir)
    return merged


@dataclass
class DriverHandle:
    """A running media driver child process. Use as a context manager, or call :meth:`stop`."""

    aeron_dir: str
    pid: int
    properties: Mapping[str, str]
    version: str
    _process: subprocess.Popen[bytes] = field(repr=False)
    _lifeline: int | None = field(repr=False)
    _remove_dir: bool = field(repr=False)

    def is_alive(self) -> bool:
        """The process runs and its CnC heartbeat is fresh."""
        if self._process.poll() is not None:
            return False
        return status(self.aeron_dir).alive

    @property
    def returncode(self) -> int | None:
        return self._process.poll()

    def kill(self) -> None:
        """SIGKILL the driver (no clean shutdown; :meth:`stop` still cleans up)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the driver down cleanly (SIGTERM), SIGKILL it if it does not exit within
        ``timeout_s``, and remove the directory it created. Idempotent."""
        try:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("media driver %d did not stop in %.1fs: killing it", self.pid, timeout_s)
                    self._process.kill()
                    self._process.wait()
        finally:
            lifeline, self._lifeline = self._lifeline, None
            if lifeline is not None:
                os.close(lifeline)
            if self._remove_dir:
                _remove_tree(self.aeron_dir)

    def __enter__(self) -> DriverHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _remove_tree(path: str) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise DriverError(f"cannot remove the media driver directory {path}: {exc}") from exc


def _read_ready(fd: int, process: subprocess.Popen[bytes], deadline: float) -> dict[str, object] | None:
    """The child's JSON report, or None if it did not come in time or the child died silently."""
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        readable, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
        elif process.poll() is not None:
            break
    if not data.strip():
        return None
    message: dict[str, object] = json.loads(data.split(b"\n", 1)[0])
    return message


def start(
    properties: Mapping[str, object] | None = None,
    *,
    aeron_dir: str | os.PathLike[str] | None = None,
    properties_file: str | os.PathLike[str] | None = None,
    timeout_s: float = 10.0,
    library: LibraryInfo | None = None,
) -> DriverHandle:
    """Start a media driver child process and wait until it is ready.

    ``properties`` are Java-style Aeron properties (``aeron.threading.mode``, ``aeron.dir``,
    ``aeron.mtu.length``, idle strategies, term lengths, CPU affinities...), applied over
    ``properties_file`` and :data:`DEFAULT_PROPERTIES`; ``aeron_dir`` overrides ``aeron.dir``.
    Raises ConfigError for a bad property, DriverError if a driver is already alive in the
    directory or the driver refuses to start, FixTimeoutError if it is not ready in time.
    """
    resolved = resolve_properties(properties, properties_file=properties_file, aeron_dir=aeron_dir)
    lib = library if library is not None else load_library()
    if not lib.has_driver_api:
        raise DriverError(
            f"the libaeron in use ({lib.path}) has no media driver API "
            f"(missing {', '.join(lib.bindings.missing_driver[:3])}...)"
        )
    directory = resolved.get("aeron.dir")
    if not directory:
        from fixg.aeron.client import default_aeron_dir

        directory = default_aeron_dir()
        resolved["aeron.dir"] = directory
    existing = status(directory)
    if existing.alive:
        raise DriverError(
            f"a media driver is already running in {directory} (pid {existing.pid}, {existing.detail})"
        )
    existed = os.path.exists(directory)
    if existed and "aeron.dir.delete.on.start" not in resolved:
        # Stale: the driver that owned it is gone. Without this the C driver may still see a
        # recent heartbeat from a killed driver and refuse the directory.
        resolved["aeron.dir.delete.on.start"] = "true"
    delete_on_shutdown = parse_bool(resolved.get("aeron.dir.delete.on.shutdown", "false"))

    env = dict(os.environ)
    env.update(to_environ(resolved))
    ready_r, ready_w = os.pipe()
    life_r, life_w = os.pipe()
    command = [
        sys.executable, "-m", "fixg.driver._child",
        "--lib", lib.path,
        "--dir", directory,
        "--ready-fd", str(ready_w),
        "--lifeline-fd", str(life_r),
        "--delete-on-shutdown", "true" if delete_on_shutdown else "false",
    ]
    if lib.driver_path:
        command += ["--driver-lib", lib.driver_path]
    try:
        # its own session: a Ctrl-C at the terminal goes to the process that started it, which
        # stops it after its own shutdown (a FIX Logout may still need the driver); the lifeline
        # ends it if that process dies
        process = subprocess.Popen(command, env=env, pass_fds=(ready_w, life_r), stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    except BaseException:
        for fd in (ready_r, ready_w, life_r, life_w):
            os.close(fd)
        raise
    os.close(ready_w)
    os.close(life_r)
    handle = DriverHandle(
        aeron_dir=directory,
        pid=process.pid,
        properties=resolved,
        version=lib.version,
        _process=process,
        _lifeline=life_w,
        _remove_dir=delete_on_shutdown or not existed,
    )
    try:
        _await_ready(handle, process, ready_r, time.monotonic() + timeout_s, timeout_s)
    except BaseException:
        handle.kill()
        handle.stop()
        raise
    finally:
        os.close(ready_r)
    log.info("media driver %d ready in %s", handle.pid, directory)
    return handle


def _await_ready(
    handle: DriverHandle, process: subprocess.Popen[bytes], ready_fd: int, deadline: float, timeout_s: float
) -> None:
    report = _read_ready(ready_fd, process, deadline)
    if report is None:
        if process.poll() is not None:
            raise DriverError(
                f"the media driver for {handle.aeron_dir} exited with status {process.returncode} "
                "before it was ready"
            )
        raise FixTimeoutError(f"the media driver for {handle.aeron_dir} did not start within {timeout_s:.1f}s")
    if not report.get("ok"):
        errcode = report.get("errcode", 0)
        raise DriverError(
            f"the media driver refused to start in {handle.aeron_dir} ({report.get('stage')})",
            errcode=errcode if isinstance(errcode, int) else 0,
            errmsg=str(report.get("error", "")),
        )
    version = report.get("version")
    if isinstance(version, str):
        handle.version = version
    # The driver says it started: wait until its CnC file is ready and heartbeating.
    while True:
        snapshot = read_cnc(handle.aeron_dir)
        if snapshot is not None and snapshot.metadata.pid == process.pid and snapshot.heartbeat_age_ms() < 5_000:
            return
        if process.poll() is not None:
            raise DriverError(f"the media driver for {handle.aeron_dir} exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise FixTimeoutError(f"the media driver's CnC file in {handle.aeron_dir} was not ready within {timeout_s:.1f}s")
        time.sleep(0.005)
