from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from fixg.config import Config, load_config, loads_config
from fixg.errors import ConfigError

from testutil import shared_dir

# The configuration examples of the user's design document, copied verbatim.
SEED_IPC = """\
[storage]
backend = "aeron"
archive_channel = "aeron:ipc"
data_stream_id = 1001
index_stream_id = 1002
"""

SEED_NETWORK = """\
[storage]
backend = "aeron"
archive_channel = "aeron:udp?endpoint=192.168.1.100:40001"
data_stream_id = 1001
index_stream_id = 1002
"""

SEED_ADVANCED = """\
[aeron]
# Archive control channel
control_channel = "aeron:udp?endpoint=localhost:8010"
control_stream_id = 100

# Data archival
archive_channel = "aeron:ipc"
data_stream_id = 1001
index_stream_id = 1002

# Replay configuration
replay_fragment_limit = 1024
replay_idle_strategy = "yield"

# Backpressure handling
offer_retry_count = 3
offer_backoff_ms = 1
"""


def test_seed_ipc_example_loads() -> None:
    cfg = loads_config(SEED_IPC)
    assert cfg.storage.backend == "aeron"
    assert cfg.storage.archive_channel == "aeron:ipc"
    assert (cfg.storage.data_stream_id, cfg.storage.index_stream_id) == (1001, 1002)


def test_seed_network_example_loads() -> None:
    cfg = loads_config(SEED_NETWORK)
    assert cfg.storage.archive_channel == "aeron:udp?endpoint=192.168.1.100:40001"


def test_seed_advanced_example_loads() -> None:
    cfg = loads_config(SEED_ADVANCED)
    a = cfg.aeron
    assert a.control_channel == "aeron:udp?endpoint=localhost:8010"
    assert a.control_stream_id == 100
    assert a.replay_fragment_limit == 1024
    assert a.replay_idle_strategy == "yield"
    assert a.offer_retry_count == 3
    assert a.offer_backoff_ms == 1.0
    # archival keys in [aeron] flow into the storage settings
    assert cfg.storage.archive_channel == "aeron:ipc"
    assert (cfg.storage.data_stream_id, cfg.storage.index_stream_id) == (1001, 1002)


def test_every_toml_block_of_the_seed_document_loads() -> None:
    doc = shared_dir() / "docs" / "SEED-aeron-integration.md"
    if not doc.is_file():
        pytest.fail(f"the SEED document is expected beside the repository at {doc}")
    blocks = re.findall(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    for block in blocks:
        assert isinstance(loads_config(block, source=str(doc)), Config)
    assert SEED_IPC in blocks and SEED_NETWORK in blocks and SEED_ADVANCED in blocks


def test_defaults_are_the_embedded_default() -> None:
    cfg = loads_config("")
    assert cfg.storage.backend == "journal"
    assert cfg.transport.kind == "inproc"
    assert cfg.sessions == ()


def test_driver_properties_by_java_name_dotted_or_quoted() -> None:
    cfg = loads_config(
        """
[aeron]
aeron.threading.mode = "SHARED"
aeron.mtu.length = 8192
"aeron.dir" = "/dev/shm/fixg-test"
aeron.dir.delete.on.shutdown = true
fragment_limit = 64
idle_strategy = "sleep"
"""
    )
    assert cfg.aeron.properties == {
        "aeron.threading.mode": "SHARED",
        "aeron.mtu.length": "8192",
        "aeron.dir": "/dev/shm/fixg-test",
        "aeron.dir.delete.on.shutdown": "true",
    }
    assert cfg.aeron.aeron_dir == "/dev/shm/fixg-test"
    assert (cfg.aeron.fragment_limit, cfg.aeron.idle_strategy) == (64, "sleep")


def test_sessions_use_quickfix_names(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(
        """
[gateway]
accept_port = 9876

[[session]]
BeginString = "FIX.4.4"
SenderCompID = "GW"
TargetCompID = "CLIENT"
ConnectionType = "acceptor"
HeartBtInt = 1
ResetOnLogon = "Y"
DataDictionary = "dicts/FIX44.xml"
StartTime = "08:00:00"
EndTime = "17:00:00"
TimeZone = "Europe/London"

[[session]]
BeginString = "FIXT.1.1"
DefaultApplVerID = "FIX.5.0SP2"
SenderCompID = "GW"
TargetCompID = "VENUE"
ConnectionType = "initiator"
SocketConnectHost = "127.0.0.1"
SocketConnectPort = 5001
SocketConnectHost1 = "127.0.0.2"
SocketConnectPort1 = 5002
Username = "u"
Password = "secret"
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    acc, ini = cfg.sessions
    assert acc.role == "acceptor" and ini.role == "initiator"
    assert acc.heart_bt_int == 1 and acc.reset_on_logon is True
    assert acc.data_dictionary == str(tmp_path / "dicts" / "FIX44.xml")
    assert (acc.start_time, acc.end_time) == (datetime.time(8), datetime.time(17))
    assert acc.time_zone == "Europe/London"
    assert acc.non_stop_session is False
    assert ini.default_appl_ver_id == "9"
    assert ini.socket_connect_hosts == (("127.0.0.1", 5001), ("127.0.0.2", 5002))
    assert ini.non_stop_session is True  # no schedule given
    assert (ini.username, ini.password) == ("u", "secret")
    assert cfg.session("FIXT.1.1:GW->VENUE") is ini


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[storage]\nbackend = 'kafka'\n", "storage.backend", "'journal', 'aeron'"),
        ("[storage]\nbakend = 'journal'\n", "storage.bakend", "allowed keys are"),
        ("[storage]\ndata_stream_id = 'x'\n", "storage.data_stream_id", "expected an integer"),
        ("[storage]\narchive_channel = 'tcp://x'\n", "storage.archive_channel", "Aeron channel"),
        ("[storage]\narchive_channel = 'aeron:udp?ttl=1'\n", "storage.archive_channel", "endpoint"),
        ("[aeron]\noffer_retry_count = -1\n", "aeron.offer_retry_count", ">= 0"),
        ("[aeron]\nreplay_idle_strategy = 'nap'\n", "aeron.replay_idle_strategy", "'yield'"),
        ("[aeron]\nthreading.mode = 'SHARED'\n", "aeron.threading.mode", "Java-style"),
        ("[transport]\nkind = 'zmq'\n", "transport.kind", "'inproc', 'aeron'"),
        ("[gatway]\n", "gatway", "allowed sections"),
        (
            "[[session]]\nSenderCompID='A'\nTargetCompID='B'\nHeartBtInt=-1\n",
            "session[0].HeartBtInt",
            "must be",
        ),
        ("[[session]]\nSenderCompID='A'\n", "session[0].TargetCompID", "required"),
        (
            "[[session]]\nSenderCompID='A'\nTargetCompID='B'\nHeartBeatInt=5\n",
            "session[0].HeartBeatInt",
            "allowed settings are",
        ),
        (
            "[[session]]\nSenderCompID='A'\nTargetCompID='B'\nConnectionType='initiator'\n",
            "session[0].SocketConnectHost",
            "needs SocketConnectHost",
        ),
        (
            "[[session]]\nSenderCompID='A'\nTargetCompID='B'\nBeginString='FIXT.1.1'\n",
            "session[0].DefaultApplVerID",
            "DefaultApplVerID",
        ),
        (
            "[[session]]\nSenderCompID='A'\nTargetCompID='B'\nTimeZone='Mars/Olympus'\n",
            "session[0].TimeZone",
            "unknown time zone",
        ),
        (
            "[[session]]\nSenderCompID='A'\nTargetCompID='B'\nResetOnLogon='maybe'\n",
            "session[0].ResetOnLogon",
            "Y or N",
        ),
        (
            "[storage]\ndata_stream_id = 7\n[aeron]\ndata_stream_id = 8\n",
            "aeron.data_stream_id",
            "[storage] says 7",
        ),
        ("[storage]\narchiver = 'sometimes'\n", "storage.archiver", "'spawn', 'external'"),
        ("[storage]\narchive_down_policy = 'panic'\n", "storage.archive_down_policy", "'buffer', 'stop'"),
        ("[storage]\nsegment_length = 100\n", "storage.segment_length", "must be >= 4096"),
        ("[storage]\narchive_buffer_limit = 0\n", "storage.archive_buffer_limit", "must be >= 1"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path)
    assert err.key == key
    assert fragment in str(err)
    assert str(path) in str(err) and key in str(err)


def test_acceptor_sessions_need_a_port() -> None:
    with pytest.raises(ConfigError) as info:
        loads_config("[[session]]\nSenderCompID='A'\nTargetCompID='B'\n")
    assert info.value.key == "gateway.accept_port"


def test_duplicate_sessions_refused() -> None:
    text = "[gateway]\naccept_port=1\n" + "[[session]]\nSenderCompID='A'\nTargetCompID='B'\n" * 2
    with pytest.raises(ConfigError, match="duplicate session"):
        loads_config(text)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "broken.toml"
    bad.write_text("[storage\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(bad)
    assert info.value.file == str(bad)


def test_unknown_session_name_is_a_config_error() -> None:
    cfg = loads_config("[gateway]\naccept_port=1\n[[session]]\nSenderCompID='A'\nTargetCompID='B'\n")
    assert cfg.session("FIX.4.4:A->B").target_comp_id == "B"
    with pytest.raises(ConfigError, match="no session named 'FIX.4.4:A->C'"):
        cfg.session("FIX.4.4:A->C")


SEED_PROPERTIES = """\
# Media driver threading
aeron.threading.mode=DEDICATED
aeron.conductor.cpu.affinity=0
aeron.sender.cpu.affinity=1
aeron.receiver.cpu.affinity=2

# Memory settings
aeron.dir=/dev/shm/aeron
aeron.mtu.length=8192
"""


def test_seed_driver_properties_load_as_written(tmp_path: Path) -> None:
    from fixg.aeron.properties import load_properties_file, parse_properties, validate_properties

    doc = shared_dir() / "docs" / "SEED-aeron-integration.md"
    blocks = re.findall(r"```properties\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert blocks == [SEED_PROPERTIES]
    expected = {
        "aeron.threading.mode": "DEDICATED",
        "aeron.conductor.cpu.affinity": "0",
        "aeron.sender.cpu.affinity": "1",
        "aeron.receiver.cpu.affinity": "2",
        "aeron.dir": "/dev/shm/aeron",
        "aeron.mtu.length": "8192",
    }
    assert parse_properties(SEED_PROPERTIES) == expected
    validate_properties(expected, source="SEED")
    # and as the properties_file of an [aeron] section
    (tmp_path / "driver.properties").write_text(SEED_PROPERTIES, encoding="utf-8")
    (tmp_path / "gw.toml").write_text('[aeron]\nproperties_file = "driver.properties"\n', encoding="utf-8")
    cfg = load_config(tmp_path / "gw.toml")
    assert cfg.aeron.properties_file == str(tmp_path / "driver.properties")
    assert load_properties_file(cfg.aeron.properties_file) == expected


def test_archive_storage_keys(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text("""
[storage]
backend = "aeron"
archive_dir = "arch"
archiver = "external"
segment_length = 1048576
archive_timeout_ms = 500
archive_down_policy = "stop"
archive_buffer_limit = 10
hold_until_recorded = true
fsync = "always"
""", encoding="utf-8")
    storage = load_config(path).storage
    assert storage.archive_dir == str(tmp_path / "arch")
    assert (storage.archiver, storage.segment_length, storage.archive_timeout_ms) == ("external", 1 << 20, 500)
    assert (storage.archive_down_policy, storage.archive_buffer_limit, storage.hold_until_recorded) == ("stop", 10, True)
    defaults = loads_config("").storage
    assert (defaults.archiver, defaults.archive_down_policy, defaults.segment_length) == ("spawn", "buffer", 64 << 20)
