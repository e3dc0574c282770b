"""Reading a media driver's command-and-control file (``<aeron.dir>/cnc.dat``) from Python.

The CnC file starts with the driver's metadata (``aeron_cnc_metadata_t``, ``#pragma pack(4)``,
padded to 128 bytes), followed by the to-driver ring buffer whose trailer holds the driver's
*consumer heartbeat*: the epoch-millisecond time at which the driver last serviced its clients.
That heartbeat is what ``aeron_is_driver_active`` looks at; reading it here needs no library,
so ``fixg doctor`` and the driver launcher can check a directory even before libaeron is found.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "CNC_FILE",
    "CncMetadata",
    "CncSnapshot",
    "read_cnc",
    "driver_heartbeat_age_ms",
    "is_driver_alive",
    "pid_alive",
]

CNC_FILE: Final = "cnc.dat"

# aeron_cnc_metadata_t: cnc_version, to_driver_buffer_length, to_clients_buffer_length,
# counter_metadata_buffer_length, counter_values_buffer_length, error_log_buffer_length (int32),
# client_liveness_timeout, start_timestamp, pid (int64), file_page_size (int32).
_METADATA: Final = struct.Struct("<6i3qi")
_METADATA_LENGTH: Final = 128  # AERON_ALIGN(sizeof(aeron_cnc_metadata_t), 2 * cache line)
# aeron_rb_descriptor_t (the ring buffer trailer): consumer_heartbeat at offset 640 of 768.
_RB_TRAILER_LENGTH: Final = 768
_RB_CONSUMER_HEARTBEAT_OFFSET: Final = 640
_INT64: Final = struct.Struct("<q")


@dataclass(frozen=True)
class CncMetadata:
    cnc_version: int
    to_driver_buffer_length: int
    to_clients_buffer_length: int
    counters_metadata_buffer_length: int
    counters_values_buffer_length: int
    error_log_buffer_length: int
    client_liveness_timeout_ns: int
    start_timestamp_ms: int
    pid: int
    file_page_size: int

    @property
    def version_text(self) -> str:
        v = self.cnc_version
        return f"{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}.{v & 0xFF}"


@dataclass(frozen=True)
class CncSnapshot:
    path: str
    metadata: CncMetadata
    driver_heartbeat_ms: int

    def heartbeat_age_ms(self, now_ms: int | None = None) -> int:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return now - self.driver_heartbeat_ms


def read_cnc(aeron_dir: str | os.PathLike[str]) -> CncSnapshot | None:
    """Metadata and driver heartbeat of ``aeron_dir``'s CnC file; None when there is no ready
    CnC file (missing, too short, or not yet marked ready by the driver)."""
    path = Path(aeron_dir) / CNC_FILE
    try:
        with open(path, "rb") as f:
            head = f.read(_METADATA_LENGTH)
            if len(head) < _METADATA.size:
                return None
            meta = CncMetadata(*_METADATA.unpack_from(head))
            if meta.cnc_version == 0 or meta.to_driver_buffer_length <= _RB_TRAILER_LENGTH:
                return None
            capacity = meta.to_driver_buffer_length - _RB_TRAILER_LENGTH
            f.seek(_METADATA_LENGTH + capacity + _RB_CONSUMER_HEARTBEAT_OFFSET)
            raw = f.read(_INT64.size)
    except OSError:
        return None
    if len(raw) < _INT64.size:
        return None
    return CncSnapshot(str(path), meta, _INT64.unpack(raw)[0])


def driver_heartbeat_age_ms(aeron_dir: str | os.PathLike[str]) -> int | None:
    """Milliseconds since the driver in ``aeron_dir`` last heartbeat, or None without CnC."""
    snapshot = read_cnc(aeron_dir)
    return None if snapshot is None else snapshot.heartbeat_age_ms()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies count as not alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def is_driver_alive(aeron_dir: str | os.PathLike[str], timeout_ms: int = 10_000) -> bool:
    """A driver is alive in ``aeron_dir`` when its CnC file is ready and its heartbeat is more
    recent than ``timeout_ms`` (the rule of ``aeron_is_driver_active``)."""
    snapshot = read_cnc(aeron_dir)
    if snapshot is None:
        return False
    return snapshot.heartbeat_age_ms() <= timeout_ms
