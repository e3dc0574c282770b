"""Message stores: the interface the session layer needs, and its backends."""

from __future__ import annotations

from fixg.store.base import Direction, MessageStore, MessageStoreFactory
from fixg.store.memory import MemoryStore, MemoryStoreFactory

__all__ = ["Direction", "MessageStore", "MessageStoreFactory", "MemoryStore", "MemoryStoreFactory"]
