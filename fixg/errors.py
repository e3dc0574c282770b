"""The one exception tree of fixg.

Every error fixg raises derives from :class:`FixError`. Built-in bases are mixed in where a
caller would naturally catch them (``ValueError`` for bad input, ``OSError`` for transport
failures, ``TimeoutError`` for time-outs). Foreign errors (``OSError``, Aeron error codes) are
translated into these at the boundary where they arise.
"""

from __future__ import annotations

__all__ = [
    "FixError",
    "ConfigError",
    "CodecError",
    "GarbledMessageError",
    "BodyLengthError",
    "ChecksumError",
    "FrameTooLargeError",
    "FieldError",
    "GroupError",
    "ValueFormatError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "SessionError",
    "TransportError",
    "AeronError",
    "AeronLibraryNotFoundError",
    "DriverError",
    "StoreError",
    "FixTimeoutError",
]


class FixError(Exception):
    """Root of every error raised by fixg."""


class ConfigError(FixError, ValueError):
    """Bad configuration. Names the file and the key, and says what is allowed."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = []
        if file is not None:
            where.append(str(file))
        if key is not None:
            where.append(f"key '{key}'")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class CodecError(FixError, ValueError):
    """A FIX frame or field could not be decoded or encoded.

    ``reason`` is a short machine-friendly description, ``tag`` the FIX tag concerned (or None)
    and ``offset`` the byte offset in the input where the problem was found (or None).
    """

    def __init__(self, reason: str, *, tag: int | None = None, offset: int | None = None) -> None:
        self.reason = reason
        self.tag = tag
        self.offset = offset
        parts = [reason]
        if tag is not None:
            parts.append(f"tag={tag}")
        if offset is not None:
            parts.append(f"offset={offset}")
        super().__init__(" ".join(parts) if len(parts) == 1 else f"{reason} ({', '.join(parts[1:])})")


class GarbledMessageError(CodecError):
    """The frame is not a well-formed FIX message (FIX: a garbled message is ignored)."""


class BodyLengthError(GarbledMessageError):
    """BodyLength(9) does not match the bytes between it and CheckSum(10)."""


class ChecksumError(GarbledMessageError):
    """CheckSum(10) does not match the sum of the bytes before it."""


class FrameTooLargeError(CodecError):
    """A frame is longer than the configured maximum."""


class FieldError(CodecError):
    """A field is malformed: no '=', a tag that is not a positive integer, an empty value..."""


class GroupError(CodecError):
    """A repeating group is malformed (count does not match, first field not the delimiter)."""


class ValueFormatError(CodecError):
    """A value does not have the format its FIX type requires."""


class ProtocolError(FixError):
    """A FIX session-level rule was broken.

    Carries what a session-level Reject(3) needs: ``session_reject_reason`` (373) and
    ``ref_tag_id`` (371), either of which may be None.
    """

    def __init__(
        self,
        message: str,
        *,
        session_reject_reason: int | None = None,
        ref_tag_id: int | None = None,
    ) -> None:
        self.session_reject_reason = session_reject_reason
        self.ref_tag_id = ref_tag_id
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """We were asked to do something the FIX session protocol forbids."""


class RemoteProtocolError(ProtocolError):
    """The counterparty broke the FIX session protocol."""


class SessionError(FixError):
    """Logon rejected, sequence reset refused, session closed..."""


class TransportError(FixError, OSError):
    """The Gateway <-> FixClient transport or a TCP connection failed."""


class AeronError(TransportError):
    """An Aeron C API call failed. ``errcode`` and ``errmsg`` are libaeron's."""

    def __init__(self, message: str, *, errcode: int = 0, errmsg: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        text = message
        if errmsg:
            text = f"{message}: {errmsg}"
        if errcode:
            text = f"{text} (errcode {errcode})"
        super().__init__(text)


class AeronLibraryNotFoundError(AeronError):
    """No usable libaeron was found; the message lists what was searched and how to get one."""


class DriverError(AeronError):
    """The media driver could not be started, is not alive, or refused its configuration."""


class StoreError(FixError):
    """The message store (journal or archive) is corrupt or cannot be written."""


class FixTimeoutError(FixError, TimeoutError):
    """An operation did not complete in time."""
