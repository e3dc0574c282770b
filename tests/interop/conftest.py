"""Fixtures of the QuickFIX interoperability tests (see qfharness.py)."""

from __future__ import annotations

from interop.qfharness import quickfix_factory, recorder

__all__ = ["quickfix_factory", "recorder"]
