"""The message store interface the FIX session layer uses.

A store keeps, for one session, the messages sent (to answer a counterparty's ResendRequest)
and received, the next sender and target sequence numbers, and the time the current sequence
index began (its *creation time*, which the session schedule compares with the current session
period). The session calls it synchronously from its state machine; backends that do real I/O
(the journal, the Aeron archive) keep these calls cheap and batch their own durability.
"""

from __future__ import annotations

import abc
import enum
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from fixg.errors import StoreError
from fixg.fix.settings import SessionKey

__all__ = ["Direction", "MessageStore", "MessageStoreFactory", "SequencedStore", "lock_directory"]


class Direction(enum.Enum):
    """Which way a stored message went."""

    INBOUND = "in"
    OUTBOUND = "out"


class MessageStore(abc.ABC):
    """Messages and sequence numbers of one session."""

    @abc.abstractmethod
    def append(self, direction: Direction, seq_num: int, data: bytes, now: float) -> None:
        """Record the encoded message ``data`` that carried ``seq_num`` in ``direction``."""

    @abc.abstractmethod
    def read_range(self, direction: Direction, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        """Stored messages with ``begin <= seq_num <= end`` in ascending order; ``end == 0``
        means no upper bound. Sequence numbers never stored are simply absent."""

    @property
    @abc.abstractmethod
    def next_sender_seq_num(self) -> int:
        """The MsgSeqNum(34) the next outbound message carries."""

    @next_sender_seq_num.setter
    @abc.abstractmethod
    def next_sender_seq_num(self, value: int) -> None: ...

    @property
    @abc.abstractmethod
    def next_target_seq_num(self) -> int:
        """The MsgSeqNum(34) expected on the next inbound message."""

    @next_target_seq_num.setter
    @abc.abstractmethod
    def next_target_seq_num(self, value: int) -> None: ...

    @property
    @abc.abstractmethod
    def creation_time(self) -> float:
        """When the current sequence index began (UTC epoch seconds)."""

    @abc.abstractmethod
    def reset(self, now: float) -> None:
        """Start a new sequence index: both sequence numbers back to 1, stored messages of the
        old index no longer returned by :meth:`read_range`, creation time ``now``."""

    @abc.abstractmethod
    def refresh(self) -> None:
        """Reload sequence numbers and messages from durable storage (RefreshOnLogon)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything the store holds. Further calls are errors."""


class SequencedStore(MessageStore):
    """A store that keeps its next sequence numbers in ``_next`` (by direction), its sequence
    index in ``_seq_index`` and its creation time in ``_creation_time``; setting a sequence
    number goes through :meth:`_set_next` (which records it)."""

    _next: dict[Direction, int]
    _seq_index: int
    _creation_time: float

    @abc.abstractmethod
    def _set_next(self, direction: Direction, value: int) -> None: ...

    @property
    def next_sender_seq_num(self) -> int:
        return self._next[Direction.OUTBOUND]

    @next_sender_seq_num.setter
    def next_sender_seq_num(self, value: int) -> None:
        self._set_next(Direction.OUTBOUND, value)

    @property
    def next_target_seq_num(self) -> int:
        return self._next[Direction.INBOUND]

    @next_target_seq_num.setter
    def next_target_seq_num(self, value: int) -> None:
        self._set_next(Direction.INBOUND, value)

    @property
    def creation_time(self) -> float:
        return self._creation_time

    @property
    def seq_index(self) -> int:
        """The current sequence index (1 for the first period, +1 at every reset)."""
        return self._seq_index


class MessageStoreFactory(Protocol):
    """Makes the store of a session."""

    def create(self, key: SessionKey, now: float) -> MessageStore: ...


def lock_directory(directory: Path, in_use: str) -> int:
    """Take the exclusive ``flock`` on ``directory/LOCK`` (created if need be) and return its
    descriptor; closing it releases the lock. Held elsewhere: StoreError ``in_use`` (a sentence
    saying who holds it), with the descriptor closed."""
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StoreError(f"{in_use} (its LOCK is held)") from exc
        raise
    return fd
