"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from testutil import fixspec_dir


@pytest.fixture
def fixspec() -> Path:
    path = fixspec_dir()
    if not path.is_dir():
        pytest.fail(f"FIX dictionaries not found at {path} (set FIXG_FIXSPEC_DIR)")
    return path
