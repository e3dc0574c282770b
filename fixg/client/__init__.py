"""FixClient: applications driving a Gateway over the Gateway <-> FixClient protocol."""

from __future__ import annotations

from fixg.client.client import CommandError, FixClient, GatewayDisconnectedError, SendError

__all__ = ["FixClient", "CommandError", "SendError", "GatewayDisconnectedError"]
