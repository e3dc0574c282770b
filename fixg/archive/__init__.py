"""fixg's archive over Aeron: an archiver service records the Gateway's data and index streams
into segment files and answers replay and management requests on a control stream.

- :mod:`fixg.archive.format` - the stream, control and file formats
- :mod:`fixg.archive.storage` - the archive directory: segments, catalog, recovery
- :mod:`fixg.archive.service` - the archiver process (``fixg archive serve``)
- :mod:`fixg.archive.client` - control requests and replays
"""

from __future__ import annotations

from fixg.archive.client import ArchiveClient, ArchiveRequestError
from fixg.archive.service import ArchiverHandle, ArchiverSettings, spawn
from fixg.archive.storage import Archive, Recording, SessionState

__all__ = [
    "Archive", "ArchiveClient", "ArchiveRequestError", "ArchiverHandle", "ArchiverSettings",
    "Recording", "SessionState", "spawn",
]  # fmt: skip
