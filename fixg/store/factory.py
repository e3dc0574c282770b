"""Opening the Gateway's message store from ``[storage]``: one place that turns the
configured backend into the factory of per-session stores the Gateway uses.

A backend factory makes (and hands back again) the :class:`~fixg.store.base.MessageStore` of
each session, is polled by the Gateway's timer (``poll``: periodic flushes, health checks),
and is closed once with ``aclose`` when the Gateway stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fixg.errors import ConfigError
from fixg.fix.settings import SessionKey
from fixg.store.base import MessageStore

if TYPE_CHECKING:
    from fixg.config import Config

__all__ = ["GatewayStoreFactory", "open_store_factory"]


class GatewayStoreFactory(Protocol):
    def create(self, key: SessionKey, now: float) -> MessageStore: ...

    def poll(self, now: float) -> None: ...

    async def aclose(self) -> None: ...


async def open_store_factory(config: Config) -> GatewayStoreFactory:
    """The store factory for ``config.storage.backend``."""
    storage = config.storage
    if storage.backend == "journal":
        from fixg.store.journal import JournalStoreFactory

        return JournalStoreFactory(
            storage.path,
            fsync=storage.fsync,
            fsync_interval_ms=storage.fsync_interval_ms,
            persist_sequence_numbers=storage.persist_sequence_numbers,
            retain_periods=storage.retain_periods,
        )
    if storage.backend == "aeron":
        from fixg.store.archive import ArchiveStoreFactory

        return await ArchiveStoreFactory.open(config)
    raise ConfigError(f"unknown storage backend {storage.backend!r}", file=config.source, key="storage.backend")
