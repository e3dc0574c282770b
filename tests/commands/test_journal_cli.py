"""``fixg journal inspect`` on what ``fixg demo`` wrote: sessions and sequence numbers, messages
with field names, filters, --config, --follow."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def fixg(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "fixg", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def demo_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    journal = tmp_path_factory.mktemp("demo") / "journal"
    out = fixg("demo", "--orders", "5", "--quiet", "--journal", str(journal))
    assert out.returncode == 0, out.stderr
    return journal


def test_lists_sessions_with_sequence_numbers(demo_journal: Path) -> None:
    out = fixg("journal", "inspect", "--journal", str(demo_journal), "--list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    bank = next(ln for ln in lines if "FIX.4.4:BANK->EXCH" in ln)
    exch = next(ln for ln in lines if "FIX.4.4:EXCH->BANK" in ln)
    # Logon + 5 orders + Logout sent by BANK; Logon + 10 reports + Logout by EXCH.
    assert "next sender 8" in bank and "next target 13" in bank
    assert "next sender 13" in exch and "next target 8" in exch
    assert "NewOrderSingle" not in out.stdout


def test_prints_messages_with_names_and_filters(demo_journal: Path) -> None:
    out = fixg("journal", "inspect", "--journal", str(demo_journal), "--session", "BANK->EXCH",
               "--direction", "out", "--msg-type", "D")
    assert out.returncode == 0, out.stderr
    msgs = [ln for ln in out.stdout.splitlines() if " out " in ln]
    assert len(msgs) == 5
    assert all("D NewOrderSingle" in ln and "ClOrdID(11)=ord-" in ln for ln in msgs)
    assert all("FIX.4.4:BANK->EXCH" in ln for ln in msgs)
    reports = fixg("journal", "inspect", "--journal", str(demo_journal), "--session", "EXCH->BANK",
                   "--direction", "in", "--msg-type", "8")
    assert [ln for ln in reports.stdout.splitlines() if " in " in ln] == []  # EXCH sends them
    reports = fixg("journal", "inspect", "--journal", str(demo_journal), "--msg-type", "8", "--direction", "in")
    lines = [ln for ln in reports.stdout.splitlines() if "ExecutionReport" in ln]
    assert len(lines) == 10 and all("ExecType(150)=" in ln for ln in lines)


def test_time_filters(demo_journal: Path) -> None:
    out = fixg("journal", "inspect", "--journal", str(demo_journal), "--since", "2999-01-01T00:00:00")
    assert out.returncode == 0
    assert not [ln for ln in out.stdout.splitlines() if " out " in ln or " in " in ln]
    out = fixg("journal", "inspect", "--journal", str(demo_journal), "--until", "2999-01-01T00:00:00Z",
               "--since", "2000-01-01")
    assert len([ln for ln in out.stdout.splitlines() if "NewOrderSingle" in ln]) == 10  # in and out


def test_journal_from_config_and_missing_journal(demo_journal: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f'[storage]\npath = "{demo_journal}"\n')
    out = fixg("journal", "inspect", "--config", str(cfg), "--list")
    assert out.returncode == 0 and "FIX.4.4:BANK->EXCH" in out.stdout
    out = fixg("journal", "inspect", "--journal", str(tmp_path / "nothing"))
    assert out.returncode == 1 and "no journal" in out.stderr


def test_follow_prints_what_is_appended(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    assert fixg("demo", "--orders", "2", "--quiet", "--journal", str(journal)).returncode == 0
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    follower = subprocess.Popen(
        [sys.executable, "-m", "fixg", "journal", "inspect", "--journal", str(journal), "--follow",
         "--session", "BANK->EXCH", "--direction", "out", "--msg-type", "D"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    pump = threading.Thread(target=lambda: [lines.put(ln) for ln in follower.stdout], daemon=True)  # type: ignore[union-attr]
    pump.start()

    def messages(n: int) -> list[str]:
        got: list[str] = []
        while len(got) < n:
            line = lines.get(timeout=30)  # bounded
            if "NewOrderSingle" in line:
                got.append(line)
        return got

    try:
        seen = messages(2)
        assert all("ClOrdID(11)=ord-" in ln for ln in seen)
        # A second run appends to the same journal; the sequence numbers carry on.
        assert fixg("demo", "--orders", "2", "--quiet", "--journal", str(journal)).returncode == 0
        more = messages(2)
        assert all("NewOrderSingle" in ln for ln in more)
        seqs = [int(ln.split()[3]) for ln in seen + more]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            assert follower.wait(timeout=10) == 0
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
            pump.join(timeout=10)
            for stream in (follower.stdout, follower.stderr):
                if stream is not None:
                    stream.close()
