"""Helpers shared by the test suites (importable as ``testutil``; see pyproject's pythonpath)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The ``shared/`` directory that sits beside the repository (docs, fixspec)."""
    return REPO.parent / "shared"


def fixspec_dir() -> Path:
    """QuickFIX-format FIX dictionaries: ``$FIXG_FIXSPEC_DIR`` or ``../shared/fixspec``."""
    env = os.environ.get("FIXG_FIXSPEC_DIR")
    return Path(env) if env else shared_dir() / "fixspec"
