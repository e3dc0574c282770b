"""``fixg demo`` end to end in a subprocess: it runs to completion, exits 0 and says where its
journal is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_fixg(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixg", *args], capture_output=True, text=True, timeout=timeout
    )


def test_demo_runs_to_completion_and_exits_0(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    out = run_fixg("demo", "--orders", "50", "--window", "10", "--journal", str(journal))
    assert out.returncode == 0, out.stderr
    assert "fills                50" in out.stdout
    assert "orders sent          50" in out.stdout
    assert "throughput" in out.stdout and "p99" in out.stdout
    assert str(journal) in out.stdout
    assert any(journal.glob("*/journal-*.jsonl"))


def test_demo_without_journal_uses_a_temporary_directory() -> None:
    out = run_fixg("demo", "--orders", "5", "--quiet")
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("journal "))
    path = Path(line.split(None, 1)[1])
    try:
        assert path.is_dir() and path.name.startswith("fixg-demo-")
    finally:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
