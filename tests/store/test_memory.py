"""The in-memory message store against the MessageStore contract."""

from __future__ import annotations

import pytest

from fixg.errors import StoreError
from fixg.fix.settings import SessionKey
from fixg.store import Direction, MemoryStore, MemoryStoreFactory


def test_append_and_read_ranges() -> None:
    store = MemoryStore(1.0)
    for seq in (1, 2, 4, 5):
        store.append(Direction.OUTBOUND, seq, b"m%d" % seq, 2.0)
    store.append(Direction.INBOUND, 1, b"in", 2.0)
    assert list(store.read_range(Direction.OUTBOUND, 2, 4)) == [(2, b"m2"), (4, b"m4")]
    assert list(store.read_range(Direction.OUTBOUND, 3, 0)) == [(4, b"m4"), (5, b"m5")]
    assert list(store.read_range(Direction.OUTBOUND, 6, 0)) == []
    assert list(store.read_range(Direction.INBOUND, 1, 1)) == [(1, b"in")]


def test_sparse_large_range() -> None:
    store = MemoryStore()
    store.append(Direction.OUTBOUND, 1_000_000, b"x", 0.0)
    assert list(store.read_range(Direction.OUTBOUND, 1, 0)) == [(1_000_000, b"x")]


def test_sequence_numbers_reset_and_close() -> None:
    store = MemoryStore(1.0)
    store.next_sender_seq_num = 7
    store.next_target_seq_num = 9
    store.append(Direction.OUTBOUND, 6, b"x", 1.0)
    with pytest.raises(StoreError):
        store.next_sender_seq_num = 0
    store.reset(5.0)
    assert (store.next_sender_seq_num, store.next_target_seq_num, store.creation_time) == (1, 1, 5.0)
    assert list(store.read_range(Direction.OUTBOUND, 1, 0)) == []
    store.refresh()
    store.close()
    with pytest.raises(StoreError):
        store.append(Direction.OUTBOUND, 1, b"x", 1.0)


def test_factory_hands_back_the_same_store_per_key() -> None:
    factory = MemoryStoreFactory()
    key = SessionKey("FIX.4.4", "A", "B")
    first = factory.create(key, 1.0)
    assert factory.create(key, 2.0) is first
    assert factory.create(SessionKey("FIX.4.4", "A", "C"), 1.0) is not first
