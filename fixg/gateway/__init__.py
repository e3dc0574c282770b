"""The asyncio side of fixg: connections driving FIX sessions, the acceptor and initiator."""

from __future__ import annotations

from fixg.gateway.acceptor import Acceptor
from fixg.gateway.connection import (
    EventHandler,
    EventQueue,
    SessionConnection,
    create_session,
    load_dictionary,
)
from fixg.gateway.initiator import Initiator
from fixg.gateway.tls import client_context, server_context

__all__ = [
    "Acceptor",
    "EventHandler",
    "EventQueue",
    "Initiator",
    "SessionConnection",
    "client_context",
    "create_session",
    "load_dictionary",
    "server_context",
]
