"""Settings of one FIX session, as a frozen dataclass.

Field names are snake_case; each maps onto the QuickFIX setting of the same meaning, so a
``[[session]]`` table in the TOML configuration can use the QuickFIX names. The map is
:data:`QUICKFIX_NAMES` (QuickFIX name -> field name) and :meth:`SessionSettings.from_quickfix`
builds settings from such a mapping, raising :class:`~fixg.errors.ConfigError` naming the key.

====================================  =================================  ======================
field                                 QuickFIX name                      default
====================================  =================================  ======================
begin_string                          BeginString                        (required)
sender_comp_id                        SenderCompID                       (required)
target_comp_id                        TargetCompID                       (required)
role ("initiator" / "acceptor")       ConnectionType                     (required)
sender_sub_id                         SenderSubID                        None
sender_location_id                    SenderLocationID                   None
target_sub_id                         TargetSubID                        None
target_location_id                    TargetLocationID                   None
session_qualifier                     SessionQualifier                   None
default_appl_ver_id                   DefaultApplVerID                   None (FIXT.1.1 needs it)
heart_bt_int                          HeartBtInt                         30 (seconds)
encrypt_method                        EncryptMethod                      0 (only 0 is supported)
reset_on_logon                        ResetOnLogon                       False
reset_on_logout                       ResetOnLogout                      False
reset_on_disconnect                   ResetOnDisconnect                  False
refresh_on_logon                      RefreshOnLogon                     False
logon_timeout                         LogonTimeout                       10 (seconds)
logout_timeout                        LogoutTimeout                      2 (seconds)
check_latency                         CheckLatency                       True
max_latency                           MaxLatency                         120 (seconds)
check_comp_id                         CheckCompID                        True
resend_request_chunk_size             ResendRequestChunkSize             0 (no chunking)
send_redundant_resend_requests        SendRedundantResendRequests        False
requires_orig_sending_time            RequiresOrigSendingTime            True
test_request_delay_multiplier         TestRequestDelayMultiplier         0.5
heartbeat_timeout_multiplier          HeartBtIntTimeoutMultiplier        2.4 (HeartBtInt x this
                                                                          of silence: disconnect)
timestamp_precision                   TimestampPrecision                 3 (0, 3, 6 or 9)
use_data_dictionary                   UseDataDictionary                  True
data_dictionary                       DataDictionary                     None (built-in of the
                                                                          BeginString)
transport_data_dictionary             TransportDataDictionary            None (FIXT.1.1)
app_data_dictionary                   AppDataDictionary                  None (FIXT.1.1)
validate_fields_out_of_order          ValidateFieldsOutOfOrder           True
validate_fields_have_values           ValidateFieldsHaveValues           True
validate_user_defined_fields          ValidateUserDefinedFields          True
validate_unordered_group_fields       ValidateUnorderedGroupFields       True
validate_length_and_checksum          ValidateLengthAndChecksum          True
allow_unknown_msg_fields              AllowUnknownMsgFields              False
reject_unsupported_app_messages       RejectUnsupportedAppMessages       False
supported_app_msg_types               SupportedAppMsgTypes               None (all supported)
start_time                            StartTime                          None (with end_time)
end_time                              EndTime                            None
start_day (0=Monday .. 6=Sunday)      StartDay                           None (weekly session)
end_day                               EndDay                             None
time_zone                             TimeZone                           "UTC"
non_stop_session                      NonStopSession                     False
persist_messages                      PersistMessages                    True
username                              Username                           None (553)
password                              Password                           None (554)
max_outbound_buffer                   MaxOutboundBuffer                  4 MiB (bytes)
max_message_size                      MaxMessageSize                     1 MiB (bytes)
enable_last_msg_seq_num_processed     EnableLastMsgSeqNumProcessed       False
socket_connect_hosts                  SocketConnectHost[n] /             () (initiator)
                                      SocketConnectPort[n]
socket_accept_host                    SocketAcceptHost                   "0.0.0.0" (acceptor)
socket_accept_port                    SocketAcceptPort                   None (acceptor)
connect_timeout                       SocketConnectTimeout               5 (seconds)
reconnect_interval                    ReconnectInterval                  1 (first back-off, s)
max_reconnect_interval                MaxReconnectInterval               30 (seconds)
socket_nodelay                        SocketNodelay                      True
socket_use_ssl                        SocketUseSSL                       False
server_certificate_file               ServerCertificateFile              None
server_certificate_key_file           ServerCertificateKeyFile           None
client_certificate_file               ClientCertificateFile              None
client_certificate_key_file           ClientCertificateKeyFile           None
certificate_authorities_file          CertificateAuthoritiesFile         None (system CAs)
certificate_verify_level              CertificateVerifyLevel             1 (0: none, 1: verify
                                                                          peer, 2: require a
                                                                          client certificate)
ssl_server_hostname                   SSLServerHostname                  None (connect host)
====================================  =================================  ======================
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fixg.errors import ConfigError

__all__ = ["SessionKey", "SessionSettings", "QUICKFIX_NAMES", "BEGIN_STRINGS", "APPL_VER_IDS"]

#: BeginString values the session layer speaks.
BEGIN_STRINGS: frozenset[str] = frozenset(
    {"FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1"}
)

#: ApplVerID(1128) / DefaultApplVerID(1137) enum values, by their names.
APPL_VER_IDS: Mapping[str, str] = {
    "FIX.2.7": "0",
    "FIX.3.0": "1",
    "FIX.4.0": "2",
    "FIX.4.1": "3",
    "FIX.4.2": "4",
    "FIX.4.3": "5",
    "FIX.4.4": "6",
    "FIX.5.0": "7",
    "FIX.5.0SP1": "8",
    "FIX.5.0SP2": "9",
}

_DAYS = {
    "monday": 0, "mon": 0, "mo": 0,
    "tuesday": 1, "tue": 1, "tu": 1,
    "wednesday": 2, "wed": 2, "we": 2,
    "thursday": 3, "thu": 3, "th": 3,
    "friday": 4, "fri": 4, "fr": 4,
    "saturday": 5, "sat": 5, "sa": 5,
    "sunday": 6, "sun": 6, "su": 6,
}  # fmt: skip


class SessionKey(NamedTuple):
    """What identifies a session: its BeginString and CompIDs (ours first), plus a qualifier."""

    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    qualifier: str | None = None

    def __str__(self) -> str:
        text = f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"
        return f"{text}:{self.qualifier}" if self.qualifier else text


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Everything one FIX session is configured with. See the module docstring for the table
    of QuickFIX names and defaults."""

    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    role: Literal["initiator", "acceptor"]
    sender_sub_id: str | None = None
    sender_location_id: str | None = None
    target_sub_id: str | None = None
    target_location_id: str | None = None
    session_qualifier: str | None = None
    default_appl_ver_id: str | None = None
    heart_bt_int: int = 30
    encrypt_method: int = 0
    reset_on_logon: bool = False
    reset_on_logout: bool = False
    reset_on_disconnect: bool = False
    refresh_on_logon: bool = False
    logon_timeout: float = 10.0
    logout_timeout: float = 2.0
    check_latency: bool = True
    max_latency: float = 120.0
    check_comp_id: bool = True
    resend_request_chunk_size: int = 0
    send_redundant_resend_requests: bool = False
    requires_orig_sending_time: bool = True
    test_request_delay_multiplier: float = 0.5
    heartbeat_timeout_multiplier: float = 2.4
    timestamp_precision: int = 3
    use_data_dictionary: bool = True
    data_dictionary: str | None = None
    transport_data_dictionary: str | None = None
    app_data_dictionary: str | None = None
    validate_fields_out_of_order: bool = True
    validate_fields_have_values: bool = True
    validate_user_defined_fields: bool = True
    validate_unordered_group_fields: bool = True
    validate_length_and_checksum: bool = True
    allow_unknown_msg_fields: bool = False
    reject_unsupported_app_messages: bool = False
    supported_app_msg_types: frozenset[str] | None = None
    start_time: _dt.time | None = None
    end_time: _dt.time | None = None
    start_day: int | None = None
    end_day: int | None = None
    time_zone: str = "UTC"
    non_stop_session: bool = False
    persist_messages: bool = True
    username: str | None = None
    password: str | None = None
    max_outbound_buffer: int = 4 * 1024 * 1024
    max_message_size: int = 1024 * 1024
    enable_last_msg_seq_num_processed: bool = False
    socket_connect_hosts: tuple[tuple[str, int], ...] = ()
    socket_accept_host: str = "0.0.0.0"
    socket_accept_port: int | None = None
    connect_timeout: float = 5.0
    reconnect_interval: float = 1.0
    max_reconnect_interval: float = 30.0
    socket_nodelay: bool = True
    socket_use_ssl: bool = False
    server_certificate_file: str | None = None
    server_certificate_key_file: str | None = None
    client_certificate_file: str | None = None
    client_certificate_key_file: str | None = None
    certificate_authorities_file: str | None = None
    certificate_verify_level: int = 1
    ssl_server_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.begin_string not in BEGIN_STRINGS:
            raise ConfigError(
                f"unsupported BeginString {self.begin_string!r}; one of {sorted(BEGIN_STRINGS)}",
                key="BeginString",
            )
        if not self.sender_comp_id:
            raise ConfigError("SenderCompID must not be empty", key="SenderCompID")
        if not self.target_comp_id:
            raise ConfigError("TargetCompID must not be empty", key="TargetCompID")
        if self.role not in ("initiator", "acceptor"):
            raise ConfigError(
                f"ConnectionType must be 'initiator' or 'acceptor', not {self.role!r}",
                key="ConnectionType",
            )
        if self.heart_bt_int < 0:
            raise ConfigError("HeartBtInt must be >= 0", key="HeartBtInt")
        if self.encrypt_method != 0:
            raise ConfigError("only EncryptMethod 0 (none) is supported", key="EncryptMethod")
        if self.begin_string == "FIXT.1.1":
            if self.default_appl_ver_id is None:
                raise ConfigError("FIXT.1.1 needs DefaultApplVerID", key="DefaultApplVerID")
            if self.default_appl_ver_id not in APPL_VER_IDS.values():
                if self.default_appl_ver_id not in APPL_VER_IDS:
                    raise ConfigError(
                        f"unknown DefaultApplVerID {self.default_appl_ver_id!r}",
                        key="DefaultApplVerID",
                    )
                object.__setattr__(
                    self, "default_appl_ver_id", APPL_VER_IDS[self.default_appl_ver_id]
                )
        for name, key in (
            ("logon_timeout", "LogonTimeout"),
            ("logout_timeout", "LogoutTimeout"),
            ("max_latency", "MaxLatency"),
            ("connect_timeout", "SocketConnectTimeout"),
            ("reconnect_interval", "ReconnectInterval"),
            ("max_reconnect_interval", "MaxReconnectInterval"),
        ):
            if getattr(self, name) <= 0:
                raise ConfigError("must be > 0", key=key)
        if self.resend_request_chunk_size < 0:
            raise ConfigError("must be >= 0", key="ResendRequestChunkSize")
        if self.timestamp_precision not in (0, 3, 6, 9):
            raise ConfigError("must be 0, 3, 6 or 9", key="TimestampPrecision")
        if self.max_outbound_buffer < 1024:
            raise ConfigError("must be >= 1024 bytes", key="MaxOutboundBuffer")
        if self.max_message_size < 64:
            raise ConfigError("must be >= 64 bytes", key="MaxMessageSize")
        if self.heartbeat_timeout_multiplier <= 1.0 + self.test_request_delay_multiplier:
            raise ConfigError(
                "must exceed 1 + TestRequestDelayMultiplier", key="HeartBtIntTimeoutMultiplier"
            )
        if (self.start_time is None) != (self.end_time is None):
            raise ConfigError("StartTime and EndTime go together", key="StartTime")
        if (self.start_day is None) != (self.end_day is None):
            raise ConfigError("StartDay and EndDay go together", key="StartDay")
        if self.start_day is not None and self.start_time is None:
            raise ConfigError("StartDay needs StartTime and EndTime", key="StartDay")
        for day, key in ((self.start_day, "StartDay"), (self.end_day, "EndDay")):
            if day is not None and not 0 <= day <= 6:
                raise ConfigError("must be a weekday, 0 (Monday) to 6 (Sunday)", key=key)
        if self.start_time is None and not self.non_stop_session:
            object.__setattr__(self, "non_stop_session", True)
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time zone {self.time_zone!r}", key="TimeZone") from exc
        if self.role == "acceptor" and self.socket_accept_port is not None:
            if not 0 <= self.socket_accept_port <= 65535:
                raise ConfigError("not a TCP port", key="SocketAcceptPort")
        for host, port in self.socket_connect_hosts:
            if not host or not 0 < port <= 65535:
                raise ConfigError(f"bad address {host}:{port}", key="SocketConnectHost")
        if self.certificate_verify_level not in (0, 1, 2):
            raise ConfigError("must be 0, 1 or 2", key="CertificateVerifyLevel")

    @property
    def key(self) -> SessionKey:
        """This session's key: (BeginString, SenderCompID, TargetCompID, SessionQualifier)."""
        return SessionKey(
            self.begin_string, self.sender_comp_id, self.target_comp_id, self.session_qualifier
        )

    @property
    def is_initiator(self) -> bool:
        return self.role == "initiator"

    def with_changes(self, **changes: Any) -> SessionSettings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_quickfix(
        cls, values: Mapping[str, object], *, file: str | None = None
    ) -> SessionSettings:
        """Build settings from QuickFIX-named keys (``SenderCompID``, ``HeartBtInt``, ...).

        Values may be already typed (TOML) or strings (QuickFIX .cfg): "Y"/"N" and
        true/false for booleans, "HH:MM:SS" for times, day names or numbers for days.
        ``SocketConnectHost``/``SocketConnectPort`` and their numbered forms
        (``SocketConnectHost1``...) become :attr:`socket_connect_hosts`; unknown keys raise.
        """
        kwargs: dict[str, Any] = {}
        hosts: dict[int, dict[str, object]] = {}
        types = {f.name: f.type for f in fields(cls)}
        for qf_name, value in values.items():
            if qf_name.startswith(("SocketConnectHost", "SocketConnectPort")):
                suffix = qf_name[len("SocketConnectHost") :]
                if suffix and not suffix.isdigit():
                    raise ConfigError("unknown setting", file=file, key=qf_name)
                kind = "host" if qf_name.startswith("SocketConnectHost") else "port"
                hosts.setdefault(int(suffix) if suffix else 0, {})[kind] = value
                continue
            name = QUICKFIX_NAMES.get(qf_name)
            if name is None:
                raise ConfigError("unknown setting", file=file, key=qf_name)
            try:
                kwargs[name] = _coerce(name, str(types[name]), value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(str(exc), file=file, key=qf_name) from exc
        if hosts:
            addresses = []
            for index in sorted(hosts):
                entry = hosts[index]
                suffix = str(index) if index else ""
                if "host" not in entry or "port" not in entry:
                    raise ConfigError(
                        "SocketConnectHost and SocketConnectPort go together",
                        file=file,
                        key=f"SocketConnectHost{suffix}",
                    )
                try:
                    addresses.append((str(entry["host"]), int(str(entry["port"]))))
                except ValueError as exc:
                    raise ConfigError(
                        "not a port number", file=file, key=f"SocketConnectPort{suffix}"
                    ) from exc
            kwargs["socket_connect_hosts"] = tuple(addresses)
        for required in ("BeginString", "SenderCompID", "TargetCompID", "ConnectionType"):
            if QUICKFIX_NAMES[required] not in kwargs:
                raise ConfigError("missing required setting", file=file, key=required)
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(str(exc), file=file, key=exc.key) from exc


def _coerce(name: str, type_name: str, value: object) -> object:
    if name == "role":
        text = str(value).strip().lower()
        if text not in ("initiator", "acceptor"):
            raise ValueError(f"must be 'initiator' or 'acceptor', not {value!r}")
        return text
    if name in ("start_day", "end_day"):
        return _parse_day(value)
    if name in ("start_time", "end_time"):
        if isinstance(value, _dt.time):
            return value
        return _dt.time.fromisoformat(str(value).strip())
    if name == "supported_app_msg_types":
        if isinstance(value, str):
            return frozenset(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, (list, tuple, set, frozenset)):
            return frozenset(str(v) for v in value)
        raise ValueError("must be a list of MsgType values")
    if type_name.startswith("bool"):
        return _parse_bool(value)
    if type_name.startswith("int"):
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        return int(str(value).strip())
    if type_name.startswith("float"):
        if isinstance(value, bool):
            raise ValueError("must be a number")
        return float(str(value).strip())
    if type_name.startswith("str"):
        return str(value)
    raise ValueError(f"cannot be set from configuration ({type_name})")


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().upper()
    if text in ("Y", "YES", "TRUE", "1"):
        return True
    if text in ("N", "NO", "FALSE", "0"):
        return False
    raise ValueError(f"must be Y or N, not {value!r}")


def _parse_day(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 6:
            return value
        raise ValueError("must be 0 (Monday) to 6 (Sunday)")
    text = str(value).strip().lower()
    if text in _DAYS:
        return _DAYS[text]
    raise ValueError(f"not a day of the week: {value!r}")


#: QuickFIX setting name -> :class:`SessionSettings` field name.
QUICKFIX_NAMES: Mapping[str, str] = {
    "BeginString": "begin_string",
    "SenderCompID": "sender_comp_id",
    "TargetCompID": "target_comp_id",
    "ConnectionType": "role",
    "SenderSubID": "sender_sub_id",
    "SenderLocationID": "sender_location_id",
    "TargetSubID": "target_sub_id",
    "TargetLocationID": "target_location_id",
    "SessionQualifier": "session_qualifier",
    "DefaultApplVerID": "default_appl_ver_id",
    "HeartBtInt": "heart_bt_int",
    "EncryptMethod": "encrypt_method",
    "ResetOnLogon": "reset_on_logon",
    "ResetOnLogout": "reset_on_logout",
    "ResetOnDisconnect": "reset_on_disconnect",
    "RefreshOnLogon": "refresh_on_logon",
    "LogonTimeout": "logon_timeout",
    "LogoutTimeout": "logout_timeout",
    "CheckLatency": "check_latency",
    "MaxLatency": "max_latency",
    "CheckCompID": "check_comp_id",
    "ResendRequestChunkSize": "resend_request_chunk_size",
    "SendRedundantResendRequests": "send_redundant_resend_requests",
    "RequiresOrigSendingTime": "requires_orig_sending_time",
    "TestRequestDelayMultiplier": "test_request_delay_multiplier",
    "HeartBtIntTimeoutMultiplier": "heartbeat_timeout_multiplier",
    "TimestampPrecision": "timestamp_precision",
    "UseDataDictionary": "use_data_dictionary",
    "DataDictionary": "data_dictionary",
    "TransportDataDictionary": "transport_data_dictionary",
    "AppDataDictionary": "app_data_dictionary",
    "ValidateFieldsOutOfOrder": "validate_fields_out_of_order",
    "ValidateFieldsHaveValues": "validate_fields_have_values",
    "ValidateUserDefinedFields": "validate_user_defined_fields",
    "ValidateUnorderedGroupFields": "validate_unordered_group_fields",
    "ValidateLengthAndChecksum": "validate_length_and_checksum",
    "AllowUnknownMsgFields": "allow_unknown_msg_fields",
    "RejectUnsupportedAppMessages": "reject_unsupported_app_messages",
    "SupportedAppMsgTypes": "supported_app_msg_types",
    "StartTime": "start_time",
    "EndTime": "end_time",
    "StartDay": "start_day",
    "EndDay": "end_day",
    "TimeZone": "time_zone",
    "NonStopSession": "non_stop_session",
    "PersistMessages": "persist_messages",
    "Username": "username",
    "Password": "password",
    "MaxOutboundBuffer": "max_outbound_buffer",
    "MaxMessageSize": "max_message_size",
    "EnableLastMsgSeqNumProcessed": "enable_last_msg_seq_num_processed",
    "SocketAcceptHost": "socket_accept_host",
    "SocketAcceptPort": "socket_accept_port",
    "SocketConnectTimeout": "connect_timeout",
    "ReconnectInterval": "reconnect_interval",
    "MaxReconnectInterval": "max_reconnect_interval",
    "SocketNodelay": "socket_nodelay",
    "SocketUseSSL": "socket_use_ssl",
    "ServerCertificateFile": "server_certificate_file",
    "ServerCertificateKeyFile": "server_certificate_key_file",
    "ClientCertificateFile": "client_certificate_file",
    "ClientCertificateKeyFile": "client_certificate_key_file",
    "CertificateAuthoritiesFile": "certificate_authorities_file",
    "CertificateVerifyLevel": "certificate_verify_level",
    "SSLServerHostname": "ssl_server_hostname",
}
