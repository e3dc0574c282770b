"""fixg configuration: one TOML file, loaded into frozen dataclasses.

Sections: ``[gateway]``, ``[[session]]`` (QuickFIX setting names, read by
:meth:`fixg.fix.settings.SessionSettings.from_quickfix`),
``[storage]``, ``[transport]`` and ``[aeron]``. Every key is checked at load: an unknown key or
a bad value raises :class:`~fixg.errors.ConfigError` naming the file, the key and what is
allowed. See ``docs/configuration.md`` for every key.

``[aeron]`` holds two kinds of keys: fixg's own (``offer_retry_count``, ``fragment_limit``,
``control_channel``, ...) and media-driver properties under their Java-style names
(``aeron.threading.mode``, ``aeron.dir``, ...). TOML reads an unquoted dotted key as nested
tables; those are flattened back into the dotted property name, so both
``aeron.threading.mode = "SHARED"`` and ``"aeron.threading.mode" = "SHARED"`` work.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fixg.errors import ConfigError
from fixg.fix.settings import QUICKFIX_NAMES, SessionSettings

__all__ = [
    "AeronConfig",
    "Config",
    "GatewayConfig",
    "StorageConfig",
    "TransportConfig",
    "load_config",
    "loads_config",
]

IDLE_STRATEGIES = ("busy_spin", "noop", "yield", "sleep", "backoff")
FSYNC_POLICIES = ("always", "interval", "never")


# --------------------------------------------------------------------------------------------
# Value checkers. Each takes (value, ctx) and returns the converted value or raises ConfigError.


@dataclass(frozen=True)
class _Ctx:
    file: str | None
    key: str

    def fail(self, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key=self.key)


_Check = Callable[[Any, _Ctx], Any]
T = TypeVar("T")


def _str(value: Any, ctx: _Ctx) -> str:
    if not isinstance(value, str):
        raise ctx.fail(f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _nonempty(value: Any, ctx: _Ctx) -> str:
    text = _str(value, ctx)
    if not text.strip():
        raise ctx.fail("must not be empty")
    return text


def _bool(value: Any, ctx: _Ctx) -> bool:
    # QuickFIX writes booleans as Y/N; TOML has true/false. Both are accepted.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("Y", "N"):
        return value == "Y"
    raise ctx.fail(f"expected true/false (or \"Y\"/\"N\"), got {value!r}")


def _int(lo: int | None = None, hi: int | None = None) -> _Check:
    def check(value: Any, ctx: _Ctx) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ctx.fail(f"expected an integer, got {type(value).__name__} {value!r}")
        if lo is not None and value < lo:
            raise ctx.fail(f"must be >= {lo}, got {value}")
        if hi is not None and value > hi:
            raise ctx.fail(f"must be <= {hi}, got {value}")
        return value

    return check


def _number(lo: float | None = None) -> _Check:
    def check(value: Any, ctx: _Ctx) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ctx.fail(f"expected a number, got {type(value).__name__} {value!r}")
        if lo is not None and value < lo:
            raise ctx.fail(f"must be >= {lo}, got {value}")
        return float(value)

    return check


def _choice(*allowed: str) -> _Check:
    def check(value: Any, ctx: _Ctx) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ctx.fail(f"must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
        return value

    return check


def _channel(value: Any, ctx: _Ctx) -> str:
    text = _str(value, ctx)
    if text == "aeron:ipc" or text.startswith("aeron:ipc?"):
        return text
    if text.startswith("aeron:udp?"):
        params = dict(p.partition("=")[::2] for p in text[len("aeron:udp?") :].split("|") if p)
        if "endpoint" not in params and "control" not in params:
            raise ctx.fail(f"a UDP channel needs endpoint=host:port or control=host:port: {text!r}")
        return text
    raise ctx.fail(
        f"expected an Aeron channel URI such as 'aeron:ipc' or 'aeron:udp?endpoint=host:port'; got {text!r}"
    )


def _stream_id(value: Any, ctx: _Ctx) -> int:
    return _int(-(2**31), 2**31 - 1)(value, ctx)  # type: ignore[no-any-return]


def _path(base: Path | None) -> _Check:
    def check(value: Any, ctx: _Ctx) -> str:
        text = _nonempty(value, ctx)
        path = Path(os.path.expanduser(text))
        if not path.is_absolute() and base is not None:
            path = base / path
        return str(path)

    return check


# --------------------------------------------------------------------------------------------
# Section dataclasses. ``metadata["key"]`` is the TOML key; ``metadata["check"]`` converts.


def _key(name: str, check: _Check, **kw: Any) -> Any:
    return field(metadata={"key": name, "check": check}, **kw)


@dataclass(frozen=True)
class GatewayConfig:
    """``[gateway]``: the engine process."""

    name: str = _key("name", _nonempty, default="fixg")
    #: where the acceptor listens (one port for every acceptor session); None: no acceptor
    accept_host: str = _key("accept_host", _nonempty, default="0.0.0.0")
    accept_port: int | None = _key("accept_port", _int(0, 65535), default=None)
    #: seconds a newly accepted TCP connection has to send its Logon
    logon_timeout: float = _key("logon_timeout", _number(0.001), default=10.0)
    #: a client that sends no heartbeat for this long loses ownership of its sessions
    client_timeout_ms: int = _key("client_timeout_ms", _int(1), default=10_000)
    #: what happens to application messages for a session no client owns
    unowned_message_policy: str = _key(
        "unowned_message_policy", _choice("buffer", "reject"), default="buffer"
    )
    unowned_buffer_limit: int = _key("unowned_buffer_limit", _int(0), default=10_000)
    #: largest FIX frame accepted from a counterparty
    max_message_size: int = _key("max_message_size", _int(256), default=1 << 20)
    #: bytes queued towards one counterparty before it counts as not reading
    max_outbound_buffer: int = _key("max_outbound_buffer", _int(1024), default=4 << 20)


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: where messages are persisted."""

    backend: str = _key("backend", _choice("journal", "aeron"), default="journal")
    path: str = _key("path", _nonempty, default="fixg-journal")
    fsync: str = _key("fsync", _choice(*FSYNC_POLICIES), default="interval")
    fsync_interval_ms: int = _key("fsync_interval_ms", _int(1), default=10)
    #: keep sequence numbers across restarts (False: every start is a new sequence)
    persist_sequence_numbers: bool = _key("persist_sequence_numbers", _bool, default=True)
    #: journal files (one per session period) kept per session; 0 keeps them all
    retain_periods: int = _key("retain_periods", _int(0), default=0)
    # Archive over Aeron (backend = "aeron")
    archive_channel: str = _key("archive_channel", _channel, default="aeron:ipc")
    data_stream_id: int = _key("data_stream_id", _stream_id, default=1001)
    index_stream_id: int = _key("index_stream_id", _stream_id, default=1002)
    archive_dir: str = _key("archive_dir", _nonempty, default="fixg-archive")
    #: hold an outbound message back from the wire until the archiver has recorded it
    hold_until_recorded: bool = _key("hold_until_recorded", _bool, default=False)
    #: "spawn": the Gateway starts the archiver as a child process; "external": one is running
    #: (``fixg archive serve``) on the same media driver
    archiver: str = _key("archiver", _choice("spawn", "external"), default="spawn")
    #: bytes per archive segment file before a new one is started
    segment_length: int = _key("segment_length", _int(4096), default=64 << 20)
    #: the archiver counts as down when its heartbeat is older than this
    archive_timeout_ms: int = _key("archive_timeout_ms", _int(1), default=3000)
    #: while the archiver is down: "buffer" keeps unrecorded messages (up to
    #: archive_buffer_limit) and republishes them when it returns; "stop" refuses to store
    archive_down_policy: str = _key("archive_down_policy", _choice("buffer", "stop"), default="buffer")
    archive_buffer_limit: int = _key("archive_buffer_limit", _int(1), default=100_000)


@dataclass(frozen=True)
class TransportConfig:
    """``[transport]``: the Gateway <-> FixClient link."""

    kind: str = _key("kind", _choice("inproc", "aeron"), default="inproc")
    channel: str = _key("channel", _channel, default="aeron:ipc")
    command_stream_id: int = _key("command_stream_id", _stream_id, default=2001)
    event_stream_id: int = _key("event_stream_id", _stream_id, default=2002)
    queue_size: int = _key("queue_size", _int(1), default=4096)
    heartbeat_interval_ms: int = _key("heartbeat_interval_ms", _int(1), default=1000)
    liveness_timeout_ms: int = _key("liveness_timeout_ms", _int(1), default=10_000)
    #: when the link stays back-pressured: "error" tells the sender, "queue" buffers (bounded)
    backpressure: str = _key("backpressure", _choice("error", "queue"), default="queue")
    backpressure_queue_limit: int = _key("backpressure_queue_limit", _int(0), default=65_536)


@dataclass(frozen=True)
class AeronConfig:
    """``[aeron]``: media driver properties and fixg's Aeron policies."""

    #: media driver properties by their Java-style names (aeron.dir, aeron.threading.mode, ...)
    properties: Mapping[str, str] = field(default_factory=dict, metadata={"key": None})
    properties_file: str | None = _key("properties_file", _nonempty, default=None)
    driver_timeout_ms: int = _key("driver_timeout_ms", _int(1), default=10_000)
    # Archive control and data archival (the same names as the [storage] ones)
    control_channel: str = _key("control_channel", _channel, default="aeron:ipc")
    control_stream_id: int = _key("control_stream_id", _stream_id, default=100)
    replay_stream_id: int = _key("replay_stream_id", _stream_id, default=101)
    archive_channel: str | None = _key("archive_channel", _channel, default=None)
    data_stream_id: int | None = _key("data_stream_id", _stream_id, default=None)
    index_stream_id: int | None = _key("index_stream_id", _stream_id, default=None)
    # Replay
    replay_fragment_limit: int = _key("replay_fragment_limit", _int(1), default=1024)
    replay_idle_strategy: str = _key("replay_idle_strategy", _choice(*IDLE_STRATEGIES), default="backoff")
    # Polling
    fragment_limit: int = _key("fragment_limit", _int(1), default=256)
    idle_strategy: str = _key("idle_strategy", _choice(*IDLE_STRATEGIES), default="backoff")
    # Backpressure
    offer_retry_count: int = _key("offer_retry_count", _int(0), default=3)
    offer_backoff_ms: float = _key("offer_backoff_ms", _number(0), default=1.0)

    @property
    def aeron_dir(self) -> str | None:
        return self.properties.get("aeron.dir")


@dataclass(frozen=True)
class Config:
    """A whole fixg configuration. ``source`` is the file it came from (None if built in code)."""

    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    sessions: tuple[SessionSettings, ...] = ()
    storage: StorageConfig = field(default_factory=StorageConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    aeron: AeronConfig = field(default_factory=AeronConfig)
    source: str | None = None

    def session(self, name: str) -> SessionSettings:
        """The session whose key reads ``name`` (e.g. ``FIX.4.4:GW->VENUE``)."""
        for s in self.sessions:
            if str(s.key) == name:
                return s
        raise ConfigError(f"no session named {name!r}", file=self.source)


# --------------------------------------------------------------------------------------------
# Loading


def _build(cls: type[T], table: Any, file: str | None, section: str, overrides: Mapping[str, _Check] = {}) -> T:
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {type(table).__name__}", file=file, key=section)
    by_key = {f.metadata["key"]: f for f in dataclasses.fields(cls) if f.metadata.get("key")}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, raw in table.items():
        f = by_key.get(key)
        if f is None:
            allowed = ", ".join(sorted(by_key))
            raise ConfigError(f"unknown key; allowed keys are: {allowed}", file=file, key=f"{section}.{key}")
        check = overrides.get(key, f.metadata["check"])
        values[f.name] = check(raw, _Ctx(file, f"{section}.{key}"))
    return cls(**values)


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        else:
            out[name] = value


def _property_value(value: Any, ctx: _Ctx) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ctx.fail(f"a driver property takes a string, number or boolean, got {type(value).__name__}")


def _load_aeron(table: Any, file: str | None, base: Path | None) -> AeronConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {type(table).__name__}", file=file, key="aeron")
    own: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if key == "properties" and isinstance(value, dict):
            _flatten("", value, flat)  # [aeron.properties] "aeron.dir" = ...
        elif isinstance(value, dict) or "." in key:
            _flatten(key, value, flat) if isinstance(value, dict) else flat.__setitem__(key, value)
        else:
            own[key] = value
    properties: dict[str, str] = {}
    for name, value in flat.items():
        ctx = _Ctx(file, f"aeron.{name}" if not name.startswith("aeron.") else name)
        if not name.startswith("aeron."):
            raise ctx.fail(
                "unknown key; driver properties use their Java-style names starting with 'aeron.' "
                "(e.g. aeron.threading.mode); fixg's own keys are listed in docs/configuration.md"
            )
        properties[name] = _property_value(value, ctx)
    cfg = _build(AeronConfig, own, file, "aeron", {"properties_file": _path(base)})
    return dataclasses.replace(cfg, properties=properties)


_SESSION_PATH_KEYS = (
    "DataDictionary", "TransportDataDictionary", "AppDataDictionary", "ServerCertificateFile",
    "ServerCertificateKeyFile", "ClientCertificateFile", "ClientCertificateKeyFile",
    "CertificateAuthoritiesFile",
)  # fmt: skip


def _load_session(table: Any, file: str | None, index: int, base: Path | None) -> SessionSettings:
    section = f"session[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {type(table).__name__}", file=file, key=section)
    values = dict(table)
    values.setdefault("BeginString", "FIX.4.4")
    values.setdefault("ConnectionType", "acceptor")
    for key in _SESSION_PATH_KEYS:
        if key in values:
            values[key] = _path(base)(values[key], _Ctx(file, f"{section}.{key}"))
    try:
        settings = SessionSettings.from_quickfix(values, file=file)
    except ConfigError as exc:
        key = exc.key or ""
        message = str(exc)
        prefix = f"{file}: key '{key}': " if file else f"key '{key}': "
        message = message[len(prefix):] if message.startswith(prefix) else message
        if message == "unknown setting":
            message = "unknown setting; allowed settings are: " + ", ".join(
                sorted([*QUICKFIX_NAMES, "SocketConnectHost[n]", "SocketConnectPort[n]"])
            )
        raise ConfigError(message, file=file, key=f"{section}.{key}" if key else section) from exc
    if settings.is_initiator and not settings.socket_connect_hosts:
        raise ConfigError(
            "an initiator session needs SocketConnectHost and SocketConnectPort",
            file=file, key=f"{section}.SocketConnectHost",
        )
    return settings


def _check_consistency(cfg: Config, file: str | None) -> Config:
    keys = set()
    for i, s in enumerate(cfg.sessions):
        if s.key in keys:
            raise ConfigError(f"duplicate session {s.key}", file=file, key=f"session[{i}]")
        keys.add(s.key)
    for i, s in enumerate(cfg.sessions):
        if not s.is_initiator and s.socket_accept_port is None and cfg.gateway.accept_port is None:
            raise ConfigError(
                "acceptor sessions need a listening port: set [gateway] accept_port "
                "(or SocketAcceptPort in the session)",
                file=file, key="gateway.accept_port",
            )
    # The archive stream settings may be given in [storage] or in [aeron] (the SEED document
    # shows both); where both are given they must agree.
    storage = cfg.storage
    for name in ("archive_channel", "data_stream_id", "index_stream_id"):
        in_aeron = getattr(cfg.aeron, name)
        if in_aeron is None:
            continue
        default = getattr(StorageConfig(), name)
        in_storage = getattr(storage, name)
        if in_storage != default and in_storage != in_aeron:
            raise ConfigError(
                f"[storage] says {in_storage!r} but [aeron] says {in_aeron!r}",
                file=file, key=f"aeron.{name}",
            )
        storage = dataclasses.replace(storage, **{name: in_aeron})
    if storage is not cfg.storage:
        cfg = dataclasses.replace(cfg, storage=storage)
    return cfg


SECTIONS = ("gateway", "session", "storage", "transport", "aeron")


def loads_config(text: str, *, source: str | None = None, base_dir: str | Path | None = None) -> Config:
    """Load a configuration from TOML text. Relative paths resolve against ``base_dir``."""
    base = Path(base_dir) if base_dir is not None else None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=source) from exc
    for key in data:
        if key not in SECTIONS:
            raise ConfigError(
                f"unknown section; allowed sections are: {', '.join('[' + s + ']' for s in SECTIONS)}",
                file=source, key=key,
            )
    sessions = data.get("session", [])
    if not isinstance(sessions, list):
        raise ConfigError("use [[session]] (an array of tables)", file=source, key="session")
    storage_overrides = {"path": _path(base), "archive_dir": _path(base)}
    cfg = Config(
        gateway=_build(GatewayConfig, data.get("gateway", {}), source, "gateway"),
        sessions=tuple(_load_session(s, source, i, base) for i, s in enumerate(sessions)),
        storage=_build(StorageConfig, data.get("storage", {}), source, "storage", storage_overrides),
        transport=_build(TransportConfig, data.get("transport", {}), source, "transport"),
        aeron=_load_aeron(data.get("aeron", {}), source, base),
        source=source,
    )
    return _check_consistency(cfg, source)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load and check a TOML configuration file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file: {exc.strerror}", file=str(p)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 at byte {exc.start}", file=str(p)) from exc
    return loads_config(text, source=str(p), base_dir=p.resolve().parent)
