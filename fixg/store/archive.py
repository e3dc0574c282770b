"""The archive message store: ``[storage] backend = "aeron"``.

The Gateway writes no files. Every store operation of a session becomes one data record on the
data stream; the records stored during one turn of the event loop (or BATCH_LIMIT of them) are
published together, with one batched offer, at the end of that turn (``loop.call_soon``), or
before anything that needs them published (a poll, closing). The archiver process
(:mod:`fixg.archive.service`) on the same media driver records them, derives the seqnum ->
position index from them (the Gateway publishes nothing on the index stream), and publishes,
per recording, the position that is durable as an Aeron counter. The factory:

- at start finds (or starts) the media driver, spawns the archiver unless ``archiver =
  "external"``, and asks the archiver for every session's sequence state (next sender and
  target numbers, sequence index, creation time): that is what the stores start from;
- keeps every message offered but not yet acknowledged as recorded (the counter has not reached
  its position) in a bounded buffer, so a ResendRequest is answered from the archive (a replay
  over the control stream) plus that buffer, and nothing acknowledged is ever needed again;
- watches the archiver's heartbeat counter: when it stops, the archiver is *down*: the
  Gateway is told (a :class:`~fixg.errors.StoreError` from ``poll``, which it reports to its
  clients) and the ``archive_down_policy`` applies: ``"buffer"`` keeps storing into the buffer
  (up to ``archive_buffer_limit`` messages), ``"stop"`` refuses to store (the message is not
  sent). When an archiver (re)appears, every unacknowledged message is published again, so a
  message the old archiver never made durable is recorded by the new one;
- with ``hold_until_recorded``, holds outbound frames back from the wire until the archiver has
  recorded them (see :meth:`ArchiveStoreFactory.hold`); otherwise frames go out at once and the
  lag (published - recorded bytes) is tracked in a counter.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fixg.archive import format as fmt
from fixg.archive.client import ArchiveClient, ArchiveRequestError
from fixg.errors import AeronError, FixTimeoutError, StoreError
from fixg.fix.settings import SessionKey
from fixg.store.base import Direction, SequencedStore

if TYPE_CHECKING:
    from fixg.aeron import Client, Counter, ExclusivePublication
    from fixg.archive.service import ArchiverHandle
    from fixg.config import Config
    from fixg.driver import DriverHandle

__all__ = ["ArchiveStore", "ArchiveStoreFactory"]

log = logging.getLogger(__name__)

_DIR = {Direction.INBOUND: fmt.DIR_IN, Direction.OUTBOUND: fmt.DIR_OUT}
_OUT = Direction.OUTBOUND
_ALLOCATED = 1  # Aeron's counter record state "allocated"
assert struct.calcsize("<BBHIqqd") == fmt.DATA_HEADER_SIZE  # the data record header (fmt._DATA)
#: a batch is published when it holds this many records (else at the end of the loop round)
BATCH_LIMIT = 256


@dataclass(slots=True)
class _Batch:
    """Records stored in one loop round (or up to BATCH_LIMIT), published together.

    ``published`` records of it went out (in one or more batched offers), ``position`` is the
    stream position after the last one; ``serial`` is that of its last record."""

    records: list[bytes]
    serial: int
    published: int = 0
    position: int = -1


class _CounterRef:
    """A counter found by a scan, re-validated by its registration id on every read."""

    __slots__ = ("counter_id", "registration_id")

    def __init__(self, counter_id: int, registration_id: int) -> None:
        self.counter_id = counter_id
        self.registration_id = registration_id


class ArchiveStoreFactory:
    """The stores of every session of one Gateway, over one data publication."""

    def __init__(self, config: Config, client: Client, archiver: ArchiverHandle | None,
                 driver: DriverHandle | None) -> None:
        self.config = config
        storage = config.storage
        self.client = client
        self.archiver = archiver
        self.driver = driver
        self._timeout_ms = storage.archive_timeout_ms
        self._policy = storage.archive_down_policy
        self._limit = storage.archive_buffer_limit
        self.hold_until_recorded = storage.hold_until_recorded
        self._stores: dict[SessionKey, ArchiveStore] = {}
        self._pending: deque[_Batch] = deque()
        self._batch: list[bytes] = []  # stored in this loop round, not yet offered
        self._count = 0  # records in _pending and _batch
        self._flush_scheduled = False
        self._serial = 0  # of the last record flushed into _pending
        self._acked_serial = 0  # of the last record acknowledged as recorded
        self._unpublished = 0  # batches of _pending not (completely) published
        self._heartbeat: _CounterRef | None = None
        self._recorded: _CounterRef | None = None
        #: the registration id of the recorded-position counter acknowledgements were last made
        #: against: another one (a new recording) has not recorded what was published before it
        self._recorded_registration: int | None = None
        self._archiver_registration: int | None = None
        self.archiver_up = False
        self.recorded_position = 0
        self._holds: deque[tuple[int, Callable[[], None]]] = deque()
        self._hold_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._states: dict[str, dict[str, Any]] = {}
        self._closed = False
        a = config.aeron
        try:
            self.data_pub: ExclusivePublication = client.add_exclusive_publication(
                storage.archive_channel, storage.data_stream_id, direct=None)
            self.control = ArchiveClient(client, a.control_channel, a.control_stream_id, a.replay_stream_id,
                                         timeout_s=self._timeout_ms / 1000.0, idle=a.replay_idle_strategy,
                                         fragment_limit=a.replay_fragment_limit)
            self.lag_counter: Counter = client.add_counter(
                fmt.GATEWAY_LAG_COUNTER_TYPE,
                f"fixg gateway archive lag: stream={storage.data_stream_id} session={self.data_pub.session_id}",
                fmt.COUNTER_KEY.pack(storage.data_stream_id, self.data_pub.session_id, 0))
        except BaseException:
            client.close()
            raise

    # -- opening -------------------------------------------------------------------------

    @classmethod
    async def open(cls, config: Config) -> ArchiveStoreFactory:
        from fixg import driver as drv
        from fixg.aeron import Client, default_aeron_dir
        from fixg.archive.service import ArchiverSettings, spawn

        a, storage = config.aeron, config.storage
        aeron_dir = a.aeron_dir or default_aeron_dir()
        owned_driver = None
        archiver = None
        try:
            if not drv.status(aeron_dir).alive:
                owned_driver = await asyncio.to_thread(
                    drv.start, dict(a.properties), aeron_dir=aeron_dir, properties_file=a.properties_file)
                log.info("archive store: started a media driver in %s (pid %d)", aeron_dir, owned_driver.pid)
            if storage.archiver == "spawn":
                settings = ArchiverSettings.from_config(config)
                settings = ArchiverSettings(**{**settings.__dict__, "aeron_dir": aeron_dir})
                archiver = await asyncio.to_thread(spawn, settings)
                log.info("archive store: archiver pid %d recording into %s", archiver.pid, storage.archive_dir)
            client = Client(aeron_dir, client_name="fixg-gateway-archive", driver_timeout_ms=a.driver_timeout_ms)
            factory = cls(config, client, archiver, owned_driver)
        except BaseException:
            if archiver is not None:
                archiver.stop()
            if owned_driver is not None:
                owned_driver.stop()
            raise
        factory._loop = asyncio.get_running_loop()
        try:
            factory._load_states()
            factory.poll(time.time())
        except BaseException:
            await factory.aclose()
            raise
        return factory

    def _load_states(self) -> None:
        deadline = time.monotonic() + max(self._timeout_ms / 1000.0, 5.0)
        while True:
            try:
                reply = self.control.request(fmt.Op.SESSIONS, timeout_s=max(0.1, deadline - time.monotonic()))
                break
            except FixTimeoutError as exc:
                raise StoreError(f"no archiver answers on {self.config.aeron.control_channel} stream "
                                 f"{self.config.aeron.control_stream_id}: {exc}") from exc
        self._states = {s["session"]: s for s in reply["sessions"]}

    # -- the MessageStore factory ----------------------------------------------------------

    def create(self, key: SessionKey, now: float) -> ArchiveStore:
        store = self._stores.get(key)
        if store is None or store._closed:
            store = ArchiveStore(self, key, self._states.get(str(key)), now,
                                 persist_sequence_numbers=self.config.storage.persist_sequence_numbers)
            self._stores[key] = store
        return store

    # -- publishing ----------------------------------------------------------------------

    def publish(self, data: bytes) -> None:
        """Store one data record: it joins the batch of this loop round (published by
        :meth:`flush`: at the end of the round, at BATCH_LIMIT records, before anything that
        needs it published)."""
        if not self.archiver_up:
            if self._policy == "stop":
                raise StoreError("the archiver is down and archive_down_policy is \"stop\": not storing")
        if self._count >= self._limit:
            raise StoreError(f"{self._count} messages are waiting for the archiver "
                             f"(archive_buffer_limit {self._limit}): not storing more")
        self._count += 1
        batch = self._batch
        batch.append(data)
        if len(batch) == 1:
            self._schedule_flush()
        elif len(batch) >= BATCH_LIMIT:
            self.flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        if not self._closed:
            self.flush()

    def flush(self) -> None:
        """Publish the records stored since the last flush (one batched offer)."""
        batch = self._batch
        if not batch:
            return
        self._batch = []
        self._serial += len(batch)
        entry = _Batch(batch, self._serial)
        self._pending.append(entry)
        first = self._unpublished == 0
        self._unpublished += 1  # counted before the offer: if it raises, a later poll offers it
        if first:
            try:
                done = self._offer(entry)
            except AeronError as exc:
                raise StoreError(f"cannot publish to the archive: {exc}") from exc
            if done:
                self._unpublished -= 1

    def _unrecorded_of(self, key: bytes) -> bool:
        """Whether records of session ``key`` are stored but not acknowledged as recorded."""
        head = len(key).to_bytes(2, "little")
        end = fmt.DATA_HEADER_SIZE + len(key)
        for entry in self._pending:
            for data in entry.records:
                if data[2:4] == head and data[fmt.DATA_HEADER_SIZE:end] == key:
                    return True
        return False

    def _offer(self, entry: _Batch) -> bool:
        """Offer what is left of ``entry``; True once all of it is published."""
        records = entry.records
        done = entry.published
        if done == 0 and len(records) == 1:
            position = self.data_pub.try_offer(records[0])
            if position < 0:
                return False
            entry.published, entry.position = 1, position
            return True
        n = self.data_pub.try_offer_batch(records[done:] if done else records)
        if n <= 0:
            return False
        entry.published = done + n
        entry.position = self.data_pub.position
        return entry.published == len(records)

    def _offer_unpublished(self) -> None:
        if not self._unpublished:
            return
        for entry in self._pending:
            if entry.published < len(entry.records):
                if not self._offer(entry):
                    return
                self._unpublished -= 1

    def pending_messages(self, key: str, direction: int, seq_index: int) -> dict[int, bytes]:
        """Messages of a session not yet acknowledged as recorded: seqnum -> message."""
        out = {}
        records = [r for entry in self._pending for r in entry.records]
        records.extend(self._batch)
        for data in records:
            if data[0] != fmt.Kind.MSG or data[1] != direction:
                continue
            rec = fmt.decode_data(data)
            if rec.key == key and rec.seq_index == seq_index:
                out[rec.number] = rec.payload
        return out

    @property
    def unrecorded(self) -> int:
        """Messages stored (published or waiting to be) that the archiver has not made durable."""
        return self._count

    # -- counters --------------------------------------------------------------------------

    def _read(self, ref: _CounterRef | None) -> int | None:
        if ref is None:
            return None
        reader = self.client.counters
        try:
            if reader.state(ref.counter_id) != _ALLOCATED or reader.registration_id(ref.counter_id) != ref.registration_id:
                return None
            return reader.value(ref.counter_id)
        except AeronError:
            return None

    def _scan(self, type_id: int, session_id: int | None) -> _CounterRef | None:
        best: tuple[int, int] | None = None
        stream = self.config.storage.data_stream_id
        for info in self.client.counters.counters():
            if info.type_id != type_id or len(info.key) < fmt.COUNTER_KEY.size:
                continue
            k_stream, k_session, k_rec = fmt.COUNTER_KEY.unpack_from(info.key)
            if k_stream != stream or (session_id is not None and k_session != session_id):
                continue
            reg = self.client.counters.registration_id(info.counter_id)
            rank = k_rec if session_id is not None else reg
            if best is None or rank > best[0]:
                best = (rank, info.counter_id)
        if best is None:
            return None
        return _CounterRef(best[1], self.client.counters.registration_id(best[1]))

    # -- the timer -------------------------------------------------------------------------

    def poll(self, now: float) -> None:
        """Track the archiver: heartbeat, recorded position, acknowledgements, republishing.
        Every failure is a :class:`StoreError` (what the Gateway's timer catches)."""
        if self._closed:
            return
        try:
            self._poll()
        except AeronError as exc:
            raise StoreError(f"the archive store cannot reach the media driver: {exc}") from exc

    def _poll(self) -> None:
        self.flush()
        beat = self._read(self._heartbeat)
        if beat is None or time.time() * 1000 - beat > self._timeout_ms:
            self._heartbeat = self._scan(fmt.HEARTBEAT_COUNTER_TYPE, None)
            beat = self._read(self._heartbeat)
        alive = beat is not None and time.time() * 1000 - beat <= self._timeout_ms
        error = None
        if alive and self._heartbeat is not None:
            if self._heartbeat.registration_id != self._archiver_registration:
                if self._archiver_registration is not None:
                    self._republish()
                self._archiver_registration = self._heartbeat.registration_id
                self._recorded = None
            if not self.archiver_up:
                if self._archiver_registration is not None and self._pending:
                    log.warning("archive store: the archiver is back; %d messages to record", self._count)
                self.archiver_up = True
        elif self.archiver_up or self._archiver_registration is None:
            if self.archiver_up:
                error = (f"the archiver is down (no heartbeat for {self._timeout_ms} ms); policy "
                         f"{self._policy!r}: {'buffering up to ' + str(self._limit) + ' messages' if self._policy == 'buffer' else 'not storing'}")
                log.error("archive store: %s", error)
            self.archiver_up = False
            self._archiver_registration = self._archiver_registration or -1
        self._offer_unpublished()
        self._acknowledge()
        if error is not None:
            raise StoreError(error)

    def _acknowledge(self) -> None:
        recorded = self._read(self._recorded)
        if recorded is None and self._pending:
            self._recorded = self._scan(fmt.RECORDED_POSITION_COUNTER_TYPE, self.data_pub.session_id)
            recorded = self._read(self._recorded)
            ref = self._recorded
            if recorded is not None and ref is not None and ref.registration_id != self._recorded_registration:
                if self._recorded_registration is not None:
                    # another recording of our publication (the archiver restarted it at a gap):
                    # it may lack what was published before it began: publish that again first
                    self._republish()
                    self._recorded = ref
                    recorded = self._read(ref)
                self._recorded_registration = ref.registration_id
        if recorded is not None:
            self.recorded_position = recorded
            pending = self._pending
            while pending:
                entry = pending[0]
                if entry.published < len(entry.records) or entry.position > recorded:
                    break
                pending.popleft()
                self._acked_serial = entry.serial
                self._count -= len(entry.records)
        holds = self._holds
        while holds and holds[0][0] <= self._acked_serial:
            holds.popleft()[1]()
        published = self.data_pub.position
        self.lag_counter.value = max(0, published - self.recorded_position)
        if self._holds and self._loop is not None and self._hold_timer is None:
            self._hold_timer = self._loop.call_later(0.001, self._hold_tick)

    def _hold_tick(self) -> None:
        # no heartbeat check: a counter's value is durable whoever wrote it, and _acknowledge
        # only trusts a counter whose registration it has seen since the last republish
        self._hold_timer = None
        if not self._closed:
            try:
                self._offer_unpublished()
                self._acknowledge()
            except AeronError as exc:  # poll() reports it (the hold waits)
                log.warning("archive store: %s", exc)

    def _republish(self) -> None:
        """A new archiver: publish every unacknowledged message again (it joined after them)."""
        for entry in self._pending:
            entry.published, entry.position = 0, -1
        self._unpublished = len(self._pending)
        self._recorded = None
        self._recorded_registration = None  # the counter found next is that of a fresh recording
        self.recorded_position = 0
        log.warning("archive store: a new archiver; republishing %d unrecorded messages", self._count)
        self._offer_unpublished()

    def hold(self, release: Callable[[], None]) -> None:
        """Call ``release`` once everything published so far is recorded (at once when it is)."""
        target = self._serial + len(self._batch)  # the batch's records get the next serials
        if self._acked_serial >= target and not self._holds:
            release()
            return
        self._holds.append((target, release))
        if self._loop is not None and self._hold_timer is None:
            self._hold_timer = self._loop.call_later(0.001, self._hold_tick)

    # -- closing -------------------------------------------------------------------------

    async def aclose(self, timeout_s: float = 5.0) -> None:
        if self._closed:
            return
        deadline = time.monotonic() + timeout_s
        try:
            self.flush()
            while self._pending and self.archiver_up and time.monotonic() < deadline:
                try:
                    self.poll(time.time())
                except StoreError:
                    break
                await asyncio.sleep(0.002)
            if self._pending:
                log.warning("archive store: closing with %d messages not acknowledged as recorded", self._count)
        finally:
            self._closed = True
            if self._hold_timer is not None:
                self._hold_timer.cancel()
            for release in [r for _p, r in self._holds]:
                release()
            self._holds.clear()
            for store in self._stores.values():
                store._closed = True
            self._stores.clear()
            try:
                self.client.close()
            finally:
                try:
                    if self.archiver is not None:
                        await asyncio.to_thread(self.archiver.stop)
                finally:
                    if self.driver is not None:
                        await asyncio.to_thread(self.driver.stop)


class ArchiveStore(SequencedStore):
    """The store of one session over the archive. Made by :class:`ArchiveStoreFactory`."""

    def __init__(self, factory: ArchiveStoreFactory, key: SessionKey, state: dict[str, Any] | None, now: float,
                 *, persist_sequence_numbers: bool = True) -> None:
        self._factory = factory
        self._key = key
        self._name = str(key)
        self._key_bytes = self._name.encode()
        self._key_length = len(self._key_bytes)
        #: a data record's header and this session's key, packed at once
        self._pack_head = struct.Struct(f"<BBHIqqd{self._key_length}s").pack
        self._closed = False
        self._apply_state(state)
        if state is None:
            self._begin(1, now)
        elif not persist_sequence_numbers and (self._next != {Direction.OUTBOUND: 1, Direction.INBOUND: 1}):
            self._begin(self._seq_index + 1, now)

    def _apply_state(self, state: dict[str, Any] | None) -> None:
        if state is None:
            self._seq_index, self._creation_time = 0, 0.0
            self._next = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
        else:
            self._seq_index = int(state["seq_index"])
            self._creation_time = float(state["creation_time"])
            self._next = {Direction.OUTBOUND: int(state["next_sender_seq_num"]),
                          Direction.INBOUND: int(state["next_target_seq_num"])}
        # the next numbers the archive derives from the records stored (set explicitly: a SEQ record)
        self._implied_out, self._implied_in = self._next[Direction.OUTBOUND], self._next[Direction.INBOUND]

    def _begin(self, seq_index: int, now: float) -> None:
        self._factory.publish(fmt.encode_data(fmt.Kind.BEGIN, 0, self._key_bytes, seq_index, 0, 0, now))
        self._seq_index, self._creation_time = seq_index, now
        self._next = {Direction.OUTBOUND: 1, Direction.INBOUND: 1}
        # the next numbers the archive derives from the records stored (set explicitly: a SEQ record)
        self._implied_out, self._implied_in = self._next[Direction.OUTBOUND], self._next[Direction.INBOUND]

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the archive store of {self._name} is closed")

    def append(self, direction: Direction, seq_num: int, data: bytes, now: float) -> None:
        if self._closed:
            self._check_open()
        out = direction is _OUT
        record = self._pack_head(1, out, self._key_length, self._seq_index, seq_num, 0, now, self._key_bytes) + data
        factory = self._factory
        if factory.archiver_up and factory._count < factory._limit:
            factory._count += 1  # publish(), inlined: the hot path
            batch = factory._batch
            batch.append(record)
            if len(batch) == 1:
                factory._schedule_flush()
            elif len(batch) >= BATCH_LIMIT:
                factory.flush()
        else:
            factory.publish(record)
        if out:
            if seq_num >= self._implied_out:
                self._implied_out = seq_num + 1
        elif seq_num >= self._implied_in:
            self._implied_in = seq_num + 1

    def read_range(self, direction: Direction, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        self._check_open()
        d = _DIR[direction]
        found: dict[int, bytes] = {}
        if not self._factory.archiver_up:
            # nobody would answer: no archive_timeout_ms wait, just what the unrecorded buffer has
            log.warning("archive store: the archiver is down; %s %d..%s served from the %d unrecorded messages only",
                        self._name, begin, end or "end", self._factory.unrecorded)
        else:
            try:
                for _pos, rec in self._factory.control.replay(self._name, d, begin, end, seq_index=self._seq_index):
                    found[rec.number] = rec.payload
            except ArchiveRequestError as exc:
                if exc.code not in ("no_such_range", "unknown_session"):
                    raise
            except (FixTimeoutError, AeronError) as exc:
                raise StoreError(f"cannot replay {self._name} {begin}..{end or 'end'} from the archive: {exc}") from exc
        for seq, msg in self._factory.pending_messages(self._name, d, self._seq_index).items():
            if seq >= begin and (end == 0 or seq <= end):
                found[seq] = msg
        return iter(sorted(found.items()))

    def _set_next(self, direction: Direction, value: int) -> None:
        self._check_open()
        if value < 1:
            raise StoreError(f"sequence numbers start at 1, not {value}")
        self._next[direction] = value
        if value != (self._implied_out if direction is _OUT else self._implied_in):
            nxt_s, nxt_t = self._next[Direction.OUTBOUND], self._next[Direction.INBOUND]
            self._factory.publish(fmt.encode_data(fmt.Kind.SEQ, 0, self._key_bytes, self._seq_index, nxt_s, nxt_t,
                                                  time.time()))
            self._implied_out, self._implied_in = nxt_s, nxt_t

    def reset(self, now: float) -> None:
        self._check_open()
        self._begin(self._seq_index + 1, now)

    def refresh(self) -> None:
        """Reload the sequence state from the archive (what it has recorded so far). While records
        of this session are not recorded yet, the archive's state may be older than this store's:
        then the local state stays (same sequence index: the higher next numbers)."""
        self._check_open()
        factory = self._factory
        if not factory.archiver_up:
            log.warning("archive store: the archiver is down; %s keeps its own sequence state", self._name)
            return
        factory.flush()
        try:
            reply = factory.control.request(fmt.Op.SESSIONS)
        except (FixTimeoutError, AeronError) as exc:
            raise StoreError(f"cannot refresh {self._name} from the archive: {exc}") from exc
        for state in reply["sessions"]:
            if state["session"] != self._name:
                continue
            if not factory._unrecorded_of(self._key_bytes) or int(state["seq_index"]) > self._seq_index:
                self._apply_state(state)
            elif int(state["seq_index"]) == self._seq_index:
                out, inb = self._next[Direction.OUTBOUND], self._next[Direction.INBOUND]
                implied = self._implied_out, self._implied_in
                self._apply_state(state)
                self._next[Direction.OUTBOUND] = max(out, self._next[Direction.OUTBOUND])
                self._next[Direction.INBOUND] = max(inb, self._next[Direction.INBOUND])
                self._implied_out, self._implied_in = max(implied[0], self._implied_out), max(implied[1], self._implied_in)
            # an older sequence index in the archive: our BEGIN is not recorded yet; keep ours

    def hold(self, release: Callable[[], None]) -> bool:
        """For the connection: with ``hold_until_recorded``, defer ``release`` (the write of an
        outbound frame) until what was stored before it is recorded, and return True; otherwise
        return False and the caller writes at once."""
        if not self._factory.hold_until_recorded or self._closed:
            return False
        self._factory.hold(release)
        return True

    def close(self) -> None:
        self._closed = True
