"""The .properties parser, property validation and idle strategies (no library needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixg.aeron.idle import (
    BackoffIdleStrategy,
    BusySpinIdleStrategy,
    NoOpIdleStrategy,
    SleepingIdleStrategy,
    YieldingIdleStrategy,
    idle_strategy,
)
from fixg.aeron.properties import (
    KNOWN_PROPERTIES,
    env_name,
    load_properties_file,
    parse_duration_ns,
    parse_properties,
    parse_size,
    to_environ,
    validate_properties,
)
from fixg.driver import resolve_properties
from fixg.errors import ConfigError


def test_parser_follows_java_properties_rules() -> None:
    text = (
        "# comment\n"
        "! another comment\n"
        "   aeron.dir = /dev/shm/x  \n"
        "aeron.threading.mode:SHARED\n"
        "aeron.mtu.length 8192\n"
        "key\\=with\\:seps = v=1\n"
        "multi = one, \\\n"
        "        two\n"
        "unicode = \\u0041\\tB\n"
        "empty\n"
        "aeron.dir = /dev/shm/y\n"
    )
    assert parse_properties(text) == {
        "aeron.dir": "/dev/shm/y",  # later keys win
        "aeron.threading.mode": "SHARED",
        "aeron.mtu.length": "8192",
        "key=with:seps": "v=1",
        "multi": "one, two",
        "unicode": "A\tB",
        "empty": "",
    }


def test_parser_rejects_bad_unicode_escape() -> None:
    with pytest.raises(ConfigError, match="uXXXX"):
        parse_properties("a = \\u12G4\n", source="f.properties")


def test_load_properties_file(tmp_path: Path) -> None:
    path = tmp_path / "driver.properties"
    path.write_text("aeron.threading.mode=SHARED\naeron.mtu.length=4k\n", encoding="utf-8")
    assert load_properties_file(path) == {"aeron.threading.mode": "SHARED", "aeron.mtu.length": "4k"}
    with pytest.raises(ConfigError, match="cannot read"):
        load_properties_file(tmp_path / "missing.properties")


def test_sizes_and_durations() -> None:
    assert parse_size("64k") == 65536
    assert parse_size("1M") == 1 << 20
    assert parse_size("2g") == 2 << 30
    assert parse_size("1408") == 1408
    assert parse_duration_ns("10ms") == 10_000_000
    assert parse_duration_ns("5s") == 5_000_000_000
    assert parse_duration_ns("7us") == 7_000
    assert parse_duration_ns("42") == 42
    for bad in ("", "k", "1.5k", "-1", "12q"):
        with pytest.raises(ValueError):
            parse_size(bad)
    with pytest.raises(ValueError):
        parse_duration_ns("1h")


def test_validation_normalises_values() -> None:
    props = validate_properties(
        {
            "aeron.threading.mode": "shared",
            "aeron.mtu.length": "8k",
            "aeron.term.buffer.length": "64k",
            "aeron.conductor.cpu.affinity": 0,
            "aeron.dir.delete.on.start": True,
            "aeron.shared.idle.strategy": "org.agrona.concurrent.BackoffIdleStrategy",
            "aeron.client.liveness.timeout": "5s",
            "aeron.receiver.wildcard.port.range": "40000 40100",
        }
    )
    assert props == {
        "aeron.threading.mode": "SHARED",
        "aeron.mtu.length": "8192",
        "aeron.term.buffer.length": "65536",
        "aeron.conductor.cpu.affinity": "0",
        "aeron.dir.delete.on.start": "true",
        "aeron.shared.idle.strategy": "backoff",
        "aeron.client.liveness.timeout": "5s",
        "aeron.receiver.wildcard.port.range": "40000 40100",
    }
    assert to_environ(props)["AERON_THREADING_MODE"] == "SHARED"
    assert env_name("aeron.socket.so_rcvbuf") == "AERON_SOCKET_SO_RCVBUF"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("aeron.threading.mod", "SHARED", "did you mean 'aeron.threading.mode'"),
        ("aeron.nonsense", "1", "unknown Aeron property"),
        ("aeron.threading.mode", "FAST", "not a threading mode"),
        ("aeron.mtu.length", "abc", "not a size"),
        ("aeron.mtu.length", "1000", "not a multiple of 32"),
        ("aeron.mtu.length", "128k", "above the maximum"),
        ("aeron.term.buffer.length", "100000", "not a power of two"),
        ("aeron.ipc.term.buffer.length", "32k", "below the minimum"),
        ("aeron.dir.delete.on.start", "maybe", "not a boolean"),
        ("aeron.client.liveness.timeout", "soon", "not a duration"),
        ("aeron.conductor.cpu.affinity", "-2", "below the minimum"),
        ("aeron.socket.multicast.ttl", "300", "above the maximum"),
        ("aeron.shared.idle.strategy", "not a name", "not an idle strategy"),
        ("aeron.conductor.idle.strategy", "my_custom_strategy", "not an idle strategy"),
        ("aeron.receiver.wildcard.port.range", "9 1", "port range"),
    ],
)
def test_bad_properties_are_refused_naming_the_key(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        validate_properties({name: value}, source="fixg.toml")
    assert info.value.key == name
    assert info.value.file == "fixg.toml"
    assert name in str(info.value)


def test_every_known_property_maps_to_an_aeron_env_var() -> None:
    for name, spec in KNOWN_PROPERTIES.items():
        assert name.startswith("aeron.")
        assert spec.env.startswith("AERON_")


def test_resolve_properties_layers(tmp_path: Path) -> None:
    path = tmp_path / "d.properties"
    path.write_text("aeron.mtu.length=4096\naeron.threading.mode=DEDICATED\n", encoding="utf-8")
    resolved = resolve_properties(
        {"aeron.threading.mode": "SHARED_NETWORK"}, properties_file=path, aeron_dir="/dev/shm/x"
    )
    assert resolved["aeron.mtu.length"] == "4096"  # from the file
    assert resolved["aeron.threading.mode"] == "SHARED_NETWORK"  # the mapping beats the file
    assert resolved["aeron.dir"] == "/dev/shm/x"  # the argument beats both
    assert resolved["aeron.shared.idle.strategy"] == "backoff"  # fixg default
    bad = tmp_path / "bad.properties"
    bad.write_text("aeron.mtu.length=huge\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve_properties(properties_file=bad)
    assert info.value.file == str(bad)
    assert info.value.key == "aeron.mtu.length"


def test_idle_strategies() -> None:
    assert isinstance(idle_strategy("busy_spin"), BusySpinIdleStrategy)
    assert isinstance(idle_strategy("noop"), NoOpIdleStrategy)
    assert isinstance(idle_strategy("yield"), YieldingIdleStrategy)
    sleeping = idle_strategy("sleep:2ms")
    assert isinstance(sleeping, SleepingIdleStrategy)
    assert sleeping.period_s == pytest.approx(0.002)
    backoff = idle_strategy("backoff")
    assert isinstance(backoff, BackoffIdleStrategy)
    for _ in range(40):
        backoff.idle(0)
    backoff.idle(1)  # work resets it
    assert backoff._spins == 0 and backoff._park_ns == backoff.min_park_ns
    with pytest.raises(ConfigError):
        idle_strategy("turbo")
    with pytest.raises(ConfigError):
        idle_strategy("yield:1ms")
