"""Aeron configuration properties: Java-style names, a ``.properties`` parser and validation.

The C media driver reads its configuration from ``AERON_*`` environment variables when
``aeron_driver_context_init`` runs. A Java-style property name maps to its variable mechanically
(``aeron.threading.mode`` -> ``AERON_THREADING_MODE``), which is what Aeron itself does when it
loads a properties file. fixg validates every property before a driver is started: a name it
does not know, or a value that does not parse for the property's type (a size, a duration, a
boolean, a threading mode...), is refused with a :class:`~fixg.errors.ConfigError` that names
the property (and the file it came from) instead of being silently replaced by a default, as the
C driver does for several of them.

The parser follows ``java.util.Properties.load``: ``#`` and ``!`` comments, ``=``, ``:`` or
white space between key and value, backslash line continuations and escapes (``\\t``,
``\\n``, ``\\uXXXX``...). ``aeron_properties_file_load`` is not exported by every library, so
files are always read here.
"""

from __future__ import annotations

import difflib
import enum
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fixg.errors import ConfigError

__all__ = [
    "Kind",
    "PropertySpec",
    "KNOWN_PROPERTIES",
    "IDLE_STRATEGY_ALIASES",
    "parse_properties",
    "load_properties_file",
    "env_name",
    "parse_size",
    "parse_duration_ns",
    "parse_bool",
    "validate_properties",
    "to_environ",
]


class Kind(enum.Enum):
    """How a property's value is parsed."""

    STRING = "string"
    SIZE = "size"  # bytes, optional k/m/g suffix
    DURATION = "duration"  # nanoseconds, optional ns/us/ms/s suffix
    MILLIS = "millis"  # a plain number of milliseconds
    BOOL = "bool"
    INT = "int"
    CPU = "cpu"  # CPU number, -1 for none
    THREADING_MODE = "threading mode"
    IDLE_STRATEGY = "idle strategy"
    INFERABLE_BOOL = "inferable boolean"
    PORT_RANGE = "port range"


@dataclass(frozen=True)
class PropertySpec:
    """A known property: its kind and, for sizes, extra constraints."""

    name: str
    kind: Kind
    power_of_two: bool = False
    minimum: int | None = None
    maximum: int | None = None
    multiple_of: int | None = None

    @property
    def env(self) -> str:
        return env_name(self.name)


_ONE_GB: Final = 1024 * 1024 * 1024
_TERM_MIN: Final = 64 * 1024
_MAX_UDP_PAYLOAD: Final = 65504


def _specs() -> dict[str, PropertySpec]:
    specs: list[PropertySpec] = []

    def add(kind: Kind, *names: str, **constraints: int | bool) -> None:
        for name in names:
            specs.append(PropertySpec(f"aeron.{name}", kind, **constraints))  # type: ignore[arg-type]

    add(Kind.STRING, "dir")
    add(
        Kind.BOOL,
        "dir.warn.if.exists",
        "dir.delete.on.start",
        "dir.delete.on.shutdown",
        "term.buffer.sparse.file",
        "perform.storage.checks",
        "spies.simulate.connection",
        "print.configuration",
        "reliable.stream",
        "tether.subscriptions",
        "rejoin.stream",
        "driver.connect",
        "enable.experimental.features",
        "driver.async.executor.enabled",
        "driver.cpuset.affinity",
        "driver.cpuset.warnings.as.errors",
        "cubiccongestioncontrol.measurertt",
        "cubiccongestioncontrol.tcpmode",
        "client.pre.touch.mapped.memory",
    )
    add(Kind.THREADING_MODE, "threading.mode")
    add(Kind.SIZE, "term.buffer.length", "ipc.term.buffer.length", power_of_two=True,
        minimum=_TERM_MIN, maximum=_ONE_GB)
    add(Kind.SIZE, "mtu.length", "ipc.mtu.length", minimum=64, maximum=_MAX_UDP_PAYLOAD,
        multiple_of=32)
    add(Kind.SIZE, "file.page.size", power_of_two=True, minimum=4096, maximum=_ONE_GB)
    add(
        Kind.SIZE,
        "conductor.buffer.length",
        "clients.buffer.length",
        "counters.buffer.length",
        "error.buffer.length",
        "loss.report.buffer.length",
        "socket.so_rcvbuf",
        "socket.so_sndbuf",
        "rcv.initial.window.length",
        "publication.term.window.length",
        "ipc.publication.term.window.length",
        "low.file.store.warning.threshold",
    )
    add(
        Kind.DURATION,
        "client.liveness.timeout",
        "publication.linger.timeout",
        "rcv.status.message.timeout",
        "image.liveness.timeout",
        "publication.unblock.timeout",
        "publication.connection.timeout",
        "timer.interval",
        "counters.free.to.reuse.timeout",
        "flow.control.receiver.timeout",
        "untethered.window.limit.timeout",
        "untethered.linger.timeout",
        "untethered.resting.timeout",
        "nak.multicast.max.backoff",
        "nak.unicast.delay",
        "retransmit.unicast.delay",
        "retransmit.unicast.linger",
        "cubiccongestioncontrol.initialrtt",
        "driver.resolver.neighbor.timeout",
        "driver.resolver.self.resolution.interval",
        "driver.resolver.neighbor.resolution.interval",
        "driver.resolver.bootstrap.neighbor.resolution.interval",
        "driver.reresolution.check.interval",
        "driver.conductor.cycle.threshold",
        "driver.sender.cycle.threshold",
        "driver.receiver.cycle.threshold",
        "driver.name.resolver.threshold",
        "client.resource.linger.duration",
        "client.idle.sleep.duration",
    )
    add(Kind.MILLIS, "driver.timeout")
    add(Kind.INT, "socket.multicast.ttl", minimum=0, maximum=255)
    add(
        Kind.INT,
        "send.to.status.poll.ratio",
        "flow.control.group.min.size",
        "nak.multicast.group.size",
        "nak.unicast.retry.delay.ratio",
        "max.resend",
        "receiver.io.vector.capacity",
        "sender.io.vector.capacity",
        "network.publication.max.messages.per.send",
        "driver.resource.free.limit",
        "driver.stream.session.limit",
        minimum=0,
    )
    add(
        Kind.INT,
        "flow.control.group.tag",
        "receiver.group.tag",
        "publication.reserved.session.id.low",
        "publication.reserved.session.id.high",
    )
    add(
        Kind.CPU,
        "conductor.cpu.affinity",
        "sender.cpu.affinity",
        "receiver.cpu.affinity",
        "async.cpu.affinity",
    )
    add(
        Kind.IDLE_STRATEGY,
        "conductor.idle.strategy",
        "sender.idle.strategy",
        "receiver.idle.strategy",
        "sharednetwork.idle.strategy",
        "shared.idle.strategy",
        "driver.async.executor.idle.strategy",
    )
    add(
        Kind.STRING,
        "conductor.idle.strategy.init.args",
        "sender.idle.strategy.init.args",
        "receiver.idle.strategy.init.args",
        "sharednetwork.idle.strategy.init.args",
        "shared.idle.strategy.init.args",
        "driver.async.executor.idle.strategy.init.args",
        "multicast.flowcontrol.supplier",
        "unicast.flowcontrol.supplier",
        "congestioncontrol.supplier",
        "agent.on.start.function",
        "driver.termination.validator",
        "udp.channel.transport.bindings.media",
        "conductor.udp.channel.transport.bindings.media",
        "udp.channel.outgoing.interceptors",
        "udp.channel.incoming.interceptors",
        "driver.resolver.name",
        "driver.resolver.interface",
        "driver.resolver.bootstrap.neighbor",
        "name.resolver.supplier",
        "name.resolver.init.args",
        "driver.dynamic.libraries",
        "client.name",
    )
    add(Kind.INFERABLE_BOOL, "receiver.group.consideration")
    add(Kind.PORT_RANGE, "sender.wildcard.port.range", "receiver.wildcard.port.range")
    return {spec.name: spec for spec in specs}


#: Every property fixg accepts, by Java-style name.
KNOWN_PROPERTIES: Final[Mapping[str, PropertySpec]] = _specs()

#: Java (Agrona) idle strategy class names and common spellings -> the C driver's names.
IDLE_STRATEGY_ALIASES: Final[Mapping[str, str]] = {
    "backoff": "backoff",
    "org.agrona.concurrent.BackoffIdleStrategy": "backoff",
    "sleeping": "sleeping",
    "sleep-ns": "sleep-ns",
    "org.agrona.concurrent.SleepingIdleStrategy": "sleep-ns",
    "org.agrona.concurrent.SleepingMillisIdleStrategy": "sleeping",
    "yield": "yield",
    "yielding": "yield",
    "org.agrona.concurrent.YieldingIdleStrategy": "yield",
    "spin": "spin",
    "busy_spin": "spin",
    "busy-spin": "spin",
    "org.agrona.concurrent.BusySpinIdleStrategy": "spin",
    "noop": "noop",
    "org.agrona.concurrent.NoOpIdleStrategy": "noop",
}

_THREADING_MODES: Final = ("DEDICATED", "SHARED_NETWORK", "SHARED", "INVOKER")
_INFERABLE: Final = ("FORCE_TRUE", "FORCE_FALSE", "INFER")
_SIZE: Final = re.compile(r"(\d+)\s*([kKmMgG]?)")
_DURATION: Final = re.compile(r"(\d+)\s*(ns|us|ms|s|)", re.IGNORECASE)
_DURATION_FACTOR: Final = {"": 1, "ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_SIZE_FACTOR: Final = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}


def env_name(prop: str) -> str:
    """``aeron.threading.mode`` -> ``AERON_THREADING_MODE``."""
    return prop.upper().replace(".", "_").replace("-", "_")


def parse_size(text: str) -> int:
    """``"64k"`` -> 65536; plain numbers are bytes. Raises ValueError."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size (a number of bytes, optionally with k, m or g)")
    return int(match.group(1)) * _SIZE_FACTOR[match.group(2).lower()]


def parse_duration_ns(text: str) -> int:
    """``"10ms"`` -> 10_000_000; plain numbers are nanoseconds. Raises ValueError."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration (a number with ns, us, ms or s; plain = ns)")
    return int(match.group(1)) * _DURATION_FACTOR[match.group(2).lower()]


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true or false)")


# --- .properties parsing ------------------------------------------------------------------------

_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Join backslash-continued lines; yields (first line number, logical line)."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        start = index
        line = lines[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        while _ends_with_continuation(line) and index < len(lines):
            line = line[:-1] + lines[index].lstrip(" \t\f")
            index += 1
        if _ends_with_continuation(line):
            line = line[:-1]
        yield start + 1, line


def _ends_with_continuation(line: str) -> bool:
    backslashes = len(line) - len(line.rstrip("\\"))
    return backslashes % 2 == 1


def _unescape(text: str, *, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i >= len(text):
            break
        esc = text[i]
        if esc == "u":
            digits = text[i + 1 : i + 5]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(f"malformed \\uXXXX escape in {text!r}", file=where)
            out.append(chr(int(digits, 16)))
            i += 5
            continue
        out.append(_ESCAPES.get(esc, esc))
        i += 1
    return "".join(out)


def _split_key_value(line: str) -> tuple[str, str]:
    """Split at the first unescaped '=', ':' or white space, as java.util.Properties does."""
    i = 0
    while i < len(line) and line[i] not in "=: \t\f":
        i += 2 if line[i] == "\\" else 1
    key = line[:i]
    rest = line[i:]
    if rest[:1] in (" ", "\t", "\f"):
        rest = rest.lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:]
    elif rest[:1] in ("=", ":"):
        rest = rest[1:]
    return key, rest.lstrip(" \t\f")


def parse_properties(text: str, *, source: str = "<string>") -> dict[str, str]:
    """Parse Java ``.properties`` text into a dict (later keys win, as in Java)."""
    result: dict[str, str] = {}
    for _lineno, line in _logical_lines(text):
        raw_key, raw_value = _split_key_value(line)
        key = _unescape(raw_key, where=source)
        value = _unescape(raw_value, where=source)
        if key:
            result[key] = value
    return result


def load_properties_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a ``.properties`` file; an unreadable file is a ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read properties file: {exc}", file=str(path)) from exc
    return parse_properties(text, source=str(path))


# --- validation ---------------------------------------------------------------------------------


def _normalise_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(f"unsupported value type {type(value).__name__}")


def _check(spec: PropertySpec, value: str) -> str:
    """Return the value to hand to the driver, or raise ValueError."""
    kind = spec.kind
    if kind is Kind.STRING:
        return value
    if kind is Kind.BOOL:
        return "true" if parse_bool(value) else "false"
    if kind is Kind.THREADING_MODE:
        mode = value.strip().upper()
        if mode not in _THREADING_MODES:
            raise ValueError(f"{value!r} is not a threading mode ({', '.join(_THREADING_MODES)})")
        return mode
    if kind is Kind.INFERABLE_BOOL:
        choice = value.strip().upper()
        if choice not in _INFERABLE:
            raise ValueError(f"{value!r} is not one of {', '.join(_INFERABLE)}")
        return choice
    if kind is Kind.IDLE_STRATEGY:
        name = value.strip()
        if name in IDLE_STRATEGY_ALIASES:
            return IDLE_STRATEGY_ALIASES[name]
        # Custom strategies (symbols the C driver would dlsym) are refused here: when the driver
        # cannot find one, aeron_driver_context_init fails and loses the reason.
        known = sorted(set(IDLE_STRATEGY_ALIASES.values()))
        raise ValueError(f"{value!r} is not an idle strategy ({', '.join(known)})")
    if kind is Kind.PORT_RANGE:
        parts = value.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{value!r} is not a port range ('low high')")
        low_port, high_port = int(parts[0]), int(parts[1])
        if not 0 <= low_port <= high_port <= 65535:
            raise ValueError(f"{value!r} is not a port range within 0..65535 with low <= high")
        return f"{low_port} {high_port}"
    if kind is Kind.DURATION:
        parse_duration_ns(value)
        return value.strip()
    if kind is Kind.MILLIS or kind is Kind.INT or kind is Kind.CPU:
        text = value.strip()
        try:
            number = int(text, 10)
        except ValueError:
            raise ValueError(f"{value!r} is not an integer") from None
        low = -1 if kind is Kind.CPU else (0 if kind is Kind.MILLIS else spec.minimum)
        if low is not None and number < low:
            raise ValueError(f"{number} is below the minimum {low}")
        if spec.maximum is not None and number > spec.maximum:
            raise ValueError(f"{number} is above the maximum {spec.maximum}")
        return str(number)
    # Kind.SIZE
    size = parse_size(value)
    if spec.power_of_two and (size <= 0 or size & (size - 1)):
        raise ValueError(f"{value!r} ({size} bytes) is not a power of two")
    if spec.minimum is not None and size < spec.minimum:
        raise ValueError(f"{value!r} ({size} bytes) is below the minimum {spec.minimum}")
    if spec.maximum is not None and size > spec.maximum:
        raise ValueError(f"{value!r} ({size} bytes) is above the maximum {spec.maximum}")
    if spec.multiple_of is not None and size % spec.multiple_of:
        raise ValueError(f"{value!r} ({size} bytes) is not a multiple of {spec.multiple_of}")
    return str(size)


def validate_properties(
    properties: Mapping[str, object], *, source: str | None = None
) -> dict[str, str]:
    """Check names and values; return the normalised properties (Java-style names -> text).

    Raises :class:`ConfigError` naming the property (and ``source``, the file it came from).
    """
    result: dict[str, str] = {}
    for name, raw in properties.items():
        spec = KNOWN_PROPERTIES.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(KNOWN_PROPERTIES), n=1, cutoff=0.75)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown Aeron property{hint}", file=source, key=name)
        try:
            value = _normalise_value(raw)
            result[name] = _check(spec, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid value {raw!r}: {exc}", file=source, key=name) from None
    return result


def to_environ(properties: Mapping[str, str]) -> dict[str, str]:
    """Validated properties -> the ``AERON_*`` environment variables the C driver reads."""
    return {env_name(name): value for name, value in properties.items()}
