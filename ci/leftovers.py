"""Snapshot and compare what tests could leave behind: /dev/shm entries, listening TCP/UDP
ports and child processes of fixg (media drivers, gateways, archivers).

    python3 ci/leftovers.py snapshot FILE     # before the tests
    python3 ci/leftovers.py check FILE        # after: non-zero exit if anything new remains
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _shm() -> list[str]:
    try:
        return sorted(os.listdir("/dev/shm"))
    except OSError:
        return []


def _listening() -> list[str]:
    found: set[str] = set()
    for name, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 3 and cols[3] == state:
                found.add(f"{name}:{int(cols[1].rsplit(':', 1)[1], 16)}")
    return sorted(found)


def _fixg_processes() -> list[str]:
    found = []
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("fixg." in cmd or "fixg " in cmd or "aeronmd" in cmd) and "leftovers.py" not in cmd:
            found.append(f"{pid} {cmd.strip()}")
    return found


def snapshot() -> dict[str, list[str]]:
    return {"shm": _shm(), "ports": _listening(), "procs": [p.split(" ", 1)[1] for p in _fixg_processes()]}


def main() -> int:
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "snapshot":
        path.write_text(json.dumps(snapshot()))
        return 0
    before = json.loads(path.read_text())
    after = snapshot()
    problems = []
    for key, label in (("shm", "/dev/shm entries"), ("ports", "listening ports"), ("procs", "fixg processes")):
        new = sorted(set(after[key]) - set(before[key]))
        if new:
            problems.append(f"{label} left behind by the tests: {', '.join(new)}")
    for line in problems:
        print(f"leftovers: {line}", file=sys.stderr)
    if not problems:
        print("leftovers: none (no new /dev/shm entries, listening ports or fixg processes)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
