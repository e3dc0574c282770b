"""An in-memory :class:`~fixg.store.base.MessageStore`: nothing survives the process."""

from __future__ import annotations

from collections.abc import Iterator

from fixg.errors import StoreError
from fixg.fix.settings import SessionKey
from fixg.store.base import Direction, MessageStore

__all__ = ["MemoryStore", "MemoryStoreFactory"]


class MemoryStore(MessageStore):
    """Keeps messages in dictionaries keyed by sequence number."""

    __slots__ = ("_messages", "_next_sender", "_next_target", "_creation_time", "_closed")

    def __init__(self, now: float = 0.0) -> None:
        self._messages: dict[Direction, dict[int, bytes]] = {
            Direction.INBOUND: {},
            Direction.OUTBOUND: {},
        }
        self._next_sender = 1
        self._next_target = 1
        self._creation_time = now
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the message store is closed")

    def append(self, direction: Direction, seq_num: int, data: bytes, now: float) -> None:
        self._check_open()
        self._messages[direction][seq_num] = data

    def read_range(self, direction: Direction, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        self._check_open()
        messages = self._messages[direction]
        if not messages:
            return iter(())
        last = max(messages) if end == 0 else min(end, max(messages))
        span = last - begin + 1
        if span <= 0:
            return iter(())
        if span <= len(messages):
            found = [(seq, messages[seq]) for seq in range(begin, last + 1) if seq in messages]
        else:
            found = sorted(item for item in messages.items() if begin <= item[0] <= last)
        return iter(found)

    @property
    def next_sender_seq_num(self) -> int:
        return self._next_sender

    @next_sender_seq_num.setter
    def next_sender_seq_num(self, value: int) -> None:
        self._check_open()
        if value < 1:
            raise StoreError(f"sequence numbers start at 1, not {value}")
        self._next_sender = value

    @property
    def next_target_seq_num(self) -> int:
        return self._next_target

    @next_target_seq_num.setter
    def next_target_seq_num(self, value: int) -> None:
        self._check_open()
        if value < 1:
            raise StoreError(f"sequence numbers start at 1, not {value}")
        self._next_target = value

    @property
    def creation_time(self) -> float:
        return self._creation_time

    def reset(self, now: float) -> None:
        self._check_open()
        for messages in self._messages.values():
            messages.clear()
        self._next_sender = 1
        self._next_target = 1
        self._creation_time = now

    def refresh(self) -> None:
        self._check_open()

    def close(self) -> None:
        self._closed = True
        for messages in self._messages.values():
            messages.clear()


class MemoryStoreFactory:
    """Makes one :class:`MemoryStore` per session key, and hands the same one back for the same
    key, so a session that reconnects keeps its sequence numbers."""

    def __init__(self) -> None:
        self._stores: dict[SessionKey, MemoryStore] = {}

    def create(self, key: SessionKey, now: float) -> MemoryStore:
        store = self._stores.get(key)
        if store is None or store._closed:
            store = self._stores[key] = MemoryStore(now)
        return store
